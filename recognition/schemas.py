"""OpenAPI descriptions of the recognition operations: request bodies per content type, answers
(the serializers that build them, recognition/serializers.py), examples and errors."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from facerec.openapi import errors
from gallery.apis import MAX_FILES_PER_REQUEST
from gallery.schemas import SLUG, UPLOAD_BODY
from recognition.serializers import (
    CompareJson,
    CompareMultipart,
    CompareResponse,
    DetectJson,
    DetectMultipart,
    DetectResponse,
    LegacyRecognize,
    LegacyResponse,
    RecognizeBatchAccepted,
    RecognizeBatchResults,
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

RECOGNIZE_BATCH = {
    "tags": ["recognition"],
    "operation_id": "recognize_batch",
    "summary": "Recognize every face of many photos in the background (202 with a task)",
    "description": (
        f"One or more `image` files (at most {MAX_FILES_PER_REQUEST}; the limits and errors of the photo "
        "uploads), recognized by a background task as `POST /api/v1/recognize` would with its defaults: one row "
        "per face (person or unknown, distance, box, quality), or one row with an `error` for a file without a "
        "face or that is not a usable image (the other files are still recognized). A read-only key may ask: "
        "nothing is added to the gallery. The photos are kept only until the task has recognized them, then "
        "deleted (all of them if the task fails). Follow the answer's `results` (or `GET /api/v1/tasks/{task}`)."
    ),
    "parameters": [SLUG],
    "request": {"multipart/form-data": UPLOAD_BODY},
    "responses": {202: RecognizeBatchAccepted, **errors(400, 401, 404, 413, 503)},
}

BATCH_RESULTS_PAGE_SIZE, BATCH_RESULTS_MAX_PAGE_SIZE = 100, 1000

RECOGNIZE_BATCH_RESULTS = {
    "tags": ["recognition"],
    "operation_id": "recognize_batch_results",
    "summary": "A batch's state and its rows, page by page",
    "description": "Rows appear as the task recognizes the photos; a task of another domain answers 404.",
    "parameters": [
        SLUG,
        OpenApiParameter("task_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
        OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="Page number, from 1"),
        OpenApiParameter(
            "page_size", {"type": "integer", "minimum": 1, "maximum": BATCH_RESULTS_MAX_PAGE_SIZE},
            description=f"Rows per page (default {BATCH_RESULTS_PAGE_SIZE}; more than {BATCH_RESULTS_MAX_PAGE_SIZE} "
            f"gives {BATCH_RESULTS_MAX_PAGE_SIZE})",
        ),
    ],
    "responses": {200: RecognizeBatchResults, **errors(401, 404)},
}
