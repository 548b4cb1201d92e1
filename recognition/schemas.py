"""OpenAPI descriptions of the recognition endpoints (request bodies, answers and errors).

The views build their answers as plain dicts (recognition/apis.py); these serializers only describe
them for drf-spectacular, and tests/ops/test_openapi.py checks real answers against the schema.
The inputs' options (``RecognizeOptions``, ``CompareOptions``, ``domain_field``) are also the views'
own, so the limits the schema documents are the ones enforced; each input has an example for
Swagger's "Try it out" (facerec/openapi.py).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

from facerec.openapi import DOMAIN_SLUG_MAX_LENGTH, EXAMPLE_DOMAIN, errors
from faces.models_zoo import default_threshold
from gallery.serializers import BoxSerializer

# A one-pixel grey PNG: Swagger's JSON example is a real image (with no face in it).
EXAMPLE_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR42mNoAAAAggCB2kUIOwAAAABJRU5ErkJggg=="
# The longest base64 text read_image accepts (MAX_UPLOAD_BYTES decoded, plus padding); longer is 413.
BASE64_MAX_LENGTH = settings.MAX_UPLOAD_BYTES * 4 // 3 + 4


def domain_field(help_text: str = "Optional when the key has exactly one domain") -> serializers.SlugField:
    return serializers.SlugField(
        required=False, max_length=DOMAIN_SLUG_MAX_LENGTH, help_text=help_text, style={"example": EXAMPLE_DOMAIN}
    )


def threshold_field(meaning: str) -> serializers.FloatField:
    model = settings.FACEREC_DEFAULT_MODEL
    return serializers.FloatField(
        required=False, min_value=0.0, max_value=2.0, style={"example": default_threshold(model)},
        help_text=(
            f"Cosine distance at or under which {meaning}. Default: the domain's own "
            f"(`threshold` in GET /api/v1/domains; {default_threshold(model)} for {model}, the example). "
            "Omit it (in Swagger: clear the field) to use the domain's."
        ),
    )


def base64_field(name: str) -> serializers.CharField:
    return serializers.CharField(
        max_length=BASE64_MAX_LENGTH, style={"example": EXAMPLE_BASE64},
        help_text=f"The {name}, base64 (a data: URL prefix is accepted); longer than maxLength answers 413",
    )


class PersonRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)


CONFIDENCE_HELP = (
    "0-100, from the distance relative to the threshold: 100 / (1 + (distance / threshold)^4). 100 at "
    "distance 0, 50 at the threshold (at or above 50: a match), falling smoothly with distance; not a probability"
)


class ImageSizeSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()


IMAGE_SIZE_HELP = "The photo's size in pixels as sent, after EXIF rotation: the pixels the boxes are in"


class MatchSerializer(serializers.Serializer):
    person = PersonRefSerializer()
    distance = serializers.FloatField(help_text="Cosine distance (1 - cos) to the person's nearest face")
    confidence = serializers.FloatField(help_text=CONFIDENCE_HELP)


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


# Recognize's options; the view's InputSerializer extends it, so limits are declared once. (A comment,
# not a docstring: drf-spectacular would publish a docstring as the request body's description.)
class RecognizeOptions(serializers.Serializer):
    domain = domain_field()
    top_k = serializers.IntegerField(required=False, default=5, min_value=1, max_value=100, style={"example": 5},
                                     help_text="Candidates per face")
    threshold = threshold_field("the nearest person is a match")
    max_faces = serializers.IntegerField(required=False, min_value=1, max_value=100, style={"example": 10},
                                         help_text="Only the largest faces (default: every face)")
    exact = serializers.BooleanField(required=False, default=False, style={"example": False},
                                     help_text="Also run exact search and report the agreement as `comparison`")


class PhotoFile(serializers.Serializer):
    image = serializers.FileField(help_text="The photo (JPEG, PNG, WebP, GIF, BMP, TIFF …)")


class PhotoBase64(serializers.Serializer):
    image_base64 = base64_field("photo")


class RecognizeJson(PhotoBase64, RecognizeOptions):
    pass


class RecognizeMultipart(PhotoFile, RecognizeOptions):
    pass


class RecognizeResponse(serializers.Serializer):
    domain = serializers.SlugField()
    model = serializers.CharField()
    detector = serializers.CharField()
    threshold = serializers.FloatField()
    image = ImageSizeSerializer(help_text=IMAGE_SIZE_HELP)
    faces = FaceResultSerializer(many=True, help_text="Largest face first; empty when the photo has no face")
    timings_ms = serializers.DictField(child=serializers.FloatField(), help_text="decode, detect, embed, search, total")


# Compare's options; the view's InputSerializer extends it.
class CompareOptions(serializers.Serializer):
    domain = domain_field(
        "Use this domain's model and threshold (default: the key's domain when it has exactly one, else the "
        "default model and its threshold)"
    )
    threshold = threshold_field("the two faces are the same person")


class ComparePhotoFiles(serializers.Serializer):
    image1 = serializers.FileField(help_text="The first photo")
    image2 = serializers.FileField(help_text="The second photo")


class ComparePhotosBase64(serializers.Serializer):
    image1_base64 = base64_field("first photo")
    image2_base64 = base64_field("second photo")


class CompareMultipart(ComparePhotoFiles, CompareOptions):
    pass


class CompareJson(ComparePhotosBase64, CompareOptions):
    pass


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
    confidence = serializers.FloatField(help_text="The match's confidence (as in /api/v1/recognize); 0 for an unknown face")
    box = BoxSerializer()


class LegacyRecognize(PhotoFile):
    domain = domain_field()


class LegacyResponse(serializers.Serializer):
    status = serializers.ChoiceField(choices=["success"])
    recognized_faces = LegacyFaceSerializer(many=True)
    mode = serializers.ChoiceField(choices=["pgvector"])
    image = ImageSizeSerializer(help_text=IMAGE_SIZE_HELP)


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
