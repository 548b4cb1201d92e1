"""OpenAPI pieces of the gallery operations that their serializers do not give: tags, path and
query parameters, the upload's body, the empty answer of a delete. The answers' shapes are the
serializers that build them (gallery/serializers.py)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from facerec.openapi import DOMAIN_SLUG_MAX_LENGTH, EXAMPLE_DOMAIN

TAGS = ["gallery"]

# The {slug} of every domain route; its example is the one the recognize and compare examples name.
SLUG = OpenApiParameter(
    "slug", {"type": "string", "maxLength": DOMAIN_SLUG_MAX_LENGTH, "pattern": "^[-a-zA-Z0-9_]+$",
             "example": EXAMPLE_DOMAIN},
    OpenApiParameter.PATH, description="The domain (GET /api/v1/domains lists the key's)",
)
TASK_ID = OpenApiParameter("task_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
WAIT = OpenApiParameter("wait", bool, description="Embed before answering")
NO_CONTENT = {204: OpenApiResponse(description="Deleted; searches no longer see it")}


class UploadRequestSerializer(serializers.Serializer):
    image = serializers.ListField(child=serializers.FileField(), help_text="One or more files (at most 50)")


UPLOAD_BODY = UploadRequestSerializer
