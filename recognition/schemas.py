"""OpenAPI descriptions of the recognition endpoints (request bodies, answers and errors).

The views build their answers as plain dicts (recognition/apis.py); these serializers only describe
them for drf-spectacular, and tests/ops/test_openapi.py checks real answers against the schema.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

from facerec.openapi import errors


class BoxSerializer(serializers.Serializer):
    x = serializers.IntegerField()
    y = serializers.IntegerField()
    w = serializers.IntegerField()
    h = serializers.IntegerField()


class PersonRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)


class MatchSerializer(serializers.Serializer):
    person = PersonRefSerializer()
    distance = serializers.FloatField(help_text="Cosine distance (1 - cos) to the person's nearest face")
    confidence = serializers.FloatField(help_text="DeepFace confidence score, 0-100")


class CandidateSerializer(MatchSerializer):
    faces_matched = serializers.IntegerField(help_text="The person's faces within the threshold")


class ComparisonSerializer(serializers.Serializer):
    top1_match = serializers.BooleanField()
    top5_overlap = serializers.IntegerField()
    top5_overlap_pct = serializers.FloatField()
    exact_candidates = CandidateSerializer(many=True)


class FaceResultSerializer(serializers.Serializer):
    box = BoxSerializer(help_text="In the pixels of the photo as sent (after EXIF rotation)")
    detection_confidence = serializers.FloatField()
    match = MatchSerializer(allow_null=True, help_text="The nearest person within the threshold, or null")
    candidates = CandidateSerializer(many=True, help_text="Nearest persons, nearest first, at most top_k")
    comparison = ComparisonSerializer(required=False, help_text="Only with exact=true: agreement with exact search")


class RecognizeJson(serializers.Serializer):
    image_base64 = serializers.CharField(help_text="The photo, base64 (a data: URL prefix is accepted)")
    domain = serializers.SlugField(required=False, help_text="Optional when the key has exactly one domain")
    top_k = serializers.IntegerField(required=False, default=5, min_value=1, max_value=100)
    threshold = serializers.FloatField(required=False, min_value=0.0, max_value=2.0)
    max_faces = serializers.IntegerField(required=False, min_value=1, max_value=100)
    exact = serializers.BooleanField(required=False, default=False)


class RecognizeMultipart(serializers.Serializer):
    image = serializers.FileField(help_text="The photo (JPEG, PNG, WebP, GIF, BMP, TIFF …)")
    domain = serializers.SlugField(required=False, help_text="Optional when the key has exactly one domain")
    top_k = serializers.IntegerField(required=False, default=5, min_value=1, max_value=100)
    threshold = serializers.FloatField(required=False, min_value=0.0, max_value=2.0)
    max_faces = serializers.IntegerField(required=False, min_value=1, max_value=100)
    exact = serializers.BooleanField(required=False, default=False)


class RecognizeResponse(serializers.Serializer):
    domain = serializers.SlugField()
    model = serializers.CharField()
    detector = serializers.CharField()
    threshold = serializers.FloatField()
    faces = FaceResultSerializer(many=True, help_text="Largest face first; empty when the photo has no face")
    timings_ms = serializers.DictField(child=serializers.FloatField(), help_text="decode, detect, embed, search, total")


class CompareMultipart(serializers.Serializer):
    image1 = serializers.FileField()
    image2 = serializers.FileField()
    domain = serializers.SlugField(required=False, help_text="Use this domain's model and threshold")
    threshold = serializers.FloatField(required=False, min_value=0.0, max_value=2.0)


class CompareJson(serializers.Serializer):
    image1_base64 = serializers.CharField()
    image2_base64 = serializers.CharField()
    domain = serializers.SlugField(required=False, help_text="Use this domain's model and threshold")
    threshold = serializers.FloatField(required=False, min_value=0.0, max_value=2.0)


class CompareResponse(serializers.Serializer):
    verified = serializers.BooleanField()
    distance = serializers.FloatField()
    threshold = serializers.FloatField()
    model = serializers.CharField()
    faces = inline_serializer("CompareFaces", {"image1": BoxSerializer(), "image2": BoxSerializer()})


RECOGNIZE = {
    "tags": ["recognition"],
    "operation_id": "recognize",
    "summary": "Find every face of a photo and the best matching persons of a domain",
    "request": {"multipart/form-data": RecognizeMultipart, "application/json": RecognizeJson},
    "responses": {200: RecognizeResponse, **errors(400, 401, 404, 413, 415, 503)},
}

COMPARE = {
    "tags": ["recognition"],
    "operation_id": "compare",
    "summary": "Are the largest faces of two photos the same person?",
    "request": {"multipart/form-data": CompareMultipart, "application/json": CompareJson},
    "responses": {200: CompareResponse, **errors(400, 401, 404, 413, 415, 422, 503)},
}


# --- The legacy front end's route ------------------------------------------------------------


class LegacyFaceSerializer(serializers.Serializer):
    name = serializers.CharField(allow_null=True, help_text="The matched person's name, or null (unknown)")
    person_id = serializers.IntegerField(allow_null=True)
    external_id = serializers.CharField(allow_null=True)
    distance = serializers.FloatField(allow_null=True, help_text="To the nearest person (null: empty gallery)")
    confidence = serializers.FloatField(help_text="0-100; 0 for an unknown face")
    box = BoxSerializer()


class LegacyRecognize(serializers.Serializer):
    image = serializers.FileField()
    domain = serializers.SlugField(required=False, help_text="Optional when the key has exactly one domain")


class LegacyResponse(serializers.Serializer):
    status = serializers.ChoiceField(choices=["success"])
    recognized_faces = LegacyFaceSerializer(many=True)
    mode = serializers.ChoiceField(choices=["pgvector"])


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
                             "confidence": 91.2, "box": {"x": 135, "y": 110, "w": 228, "h": 228}}
                        ],
                        "mode": "pgvector",
                    },
                )
            ],
        ),
        **errors(400, 401, 404, 413, 415, 503),
    },
}
