"""OpenAPI descriptions of the recognition operations: request bodies per content type, answers
(the serializers that build them, recognition/serializers.py), examples and errors."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from facerec.openapi import errors
from recognition.serializers import (
    CompareJson,
    CompareMultipart,
    CompareResponse,
    DetectJson,
    DetectMultipart,
    DetectResponse,
    LegacyRecognize,
    LegacyResponse,
    RecognizeJson,
    RecognizeMultipart,
    RecognizeResponse,
)

RECOGNIZE = {
    "tags": ["recognition"],
    "operation_id": "recognize",
    "summary": "Find every face of a photo and the best matching persons of a domain",
    "request": {"multipart/form-data": RecognizeMultipart, "application/json": RecognizeJson},
    "responses": {200: RecognizeResponse, **errors(400, 401, 404, 413, 415, 503)},
}

DETECT = {
    "tags": ["recognition"],
    "operation_id": "detect",
    "summary": "Find every face of a photo: boxes, landmarks and quality, no search",
    "description": (
        "What a client needs to crop, count or pre-check photos before enrolling them: the domain's detector "
        "and quality bar apply (a face with quality issues would be stored but not searchable). Same "
        "authentication, limits and errors as recognize."
    ),
    "request": {"multipart/form-data": DetectMultipart, "application/json": DetectJson},
    "responses": {200: DetectResponse, **errors(400, 401, 404, 413, 415, 503)},
}

COMPARE = {
    "tags": ["recognition"],
    "operation_id": "compare",
    "summary": "Are the largest faces of two photos the same person?",
    "request": {"multipart/form-data": CompareMultipart, "application/json": CompareJson},
    "responses": {200: CompareResponse, **errors(400, 401, 404, 413, 415, 422, 503)},
}

LEGACY_RECOGNIZE = {
    "tags": ["legacy"],
    "operation_id": "legacy_recognize",
    "summary": "Recognize, in the answer shape of the old server (for the existing front end)",
    "description": (
        "Same search as `POST /api/v1/recognize` with the domain's threshold and the same errors; the key "
        "is usually sent bare (`Authorization: <key>`)."
    ),
    "request": {"multipart/form-data": LegacyRecognize},
    "responses": {
        200: OpenApiResponse(
            LegacyResponse,
            examples=[
                OpenApiExample(
                    "One known face",
                    {
                        "status": "success",
                        "recognized_faces": [
                            {"name": "Angelina Jolie", "person_id": 3, "external_id": None, "distance": 0.031,
                             "confidence": 96.3, "box": {"x": 135, "y": 110, "w": 228, "h": 228}}
                        ],
                        "mode": "pgvector",
                        "image": {"width": 640, "height": 442},
                    },
                )
            ],
        ),
        **errors(400, 401, 404, 413, 415, 503),
    },
}
