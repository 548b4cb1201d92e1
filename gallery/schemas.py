"""OpenAPI descriptions of the gallery endpoints (gallery/apis.py), attached from outside the views.

The views are plain APIViews that build dicts (``person_data``, ``photo_data``, ``task_data``);
drf-spectacular cannot guess their answers, so each view gets its request, answer and error
schemas here through an ``OpenApiViewExtension``, registered when this module is imported
(FacerecConfig.ready). tests/ops/test_openapi.py checks real answers of every route against the
schema, so a change of shape in apis.py that is not mirrored here fails a test.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers

from facerec.openapi import DOMAIN_SLUG_MAX_LENGTH, EXAMPLE_DOMAIN, errors
from gallery.models import FacePhoto, GalleryTask
from recognition.schemas import BoxSerializer

TAGS = ["gallery"]


class DomainSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    model = serializers.CharField(help_text="DeepFace recognition model serving searches")
    detector = serializers.CharField()
    threshold = serializers.FloatField(help_text="Effective cosine-distance threshold")
    pending_model = serializers.CharField(allow_null=True, help_text="Model being switched to, if any")
    person_count = serializers.IntegerField()
    photo_count = serializers.IntegerField()
    face_count = serializers.IntegerField(help_text="Faces embedded with the serving model")


class DomainListSerializer(serializers.Serializer):
    results = DomainSerializer(many=True)


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    active = serializers.BooleanField()
    photo_count = serializers.IntegerField(allow_null=True)
    face_count = serializers.IntegerField(allow_null=True, help_text="Faces embedded with the domain's model")
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()


class PersonPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PersonSerializer(many=True)


class PersonCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, style={"example": "Angelina Jolie"})
    external_id = serializers.CharField(max_length=200, required=False, allow_null=True, style={"example": "crm-42"},
                                        help_text="Unique per domain; POSTing it again returns the same person (200)")
    active = serializers.BooleanField(required=False, default=True, style={"example": True})


class PersonUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, style={"example": "Angelina Jolie"})
    external_id = serializers.CharField(max_length=200, required=False, allow_null=True, style={"example": "crm-42"},
                                        help_text="null clears it; one used by another person of the domain answers 409")
    active = serializers.BooleanField(required=False, style={"example": True})


class FaceSerializer(serializers.Serializer):
    model = serializers.CharField()
    box = BoxSerializer()
    detection_confidence = serializers.FloatField()


class PhotoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    person_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=FacePhoto.Status.choices)
    reason = serializers.CharField(allow_blank=True, help_text="Why a photo has no face or failed")
    source_name = serializers.CharField(allow_blank=True)
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    faces = FaceSerializer(many=True)
    created = serializers.DateTimeField()


class PhotoListSerializer(serializers.Serializer):
    results = PhotoSerializer(many=True)


class UploadedPhotoSerializer(PhotoSerializer):
    created = serializers.BooleanField(help_text="False: the same picture was already in the domain")
    task = serializers.UUIDField(allow_null=True, help_text="The embedding task (GET /api/v1/tasks/{id})")


class UploadSerializer(serializers.Serializer):
    photos = UploadedPhotoSerializer(many=True)
    tasks = serializers.ListField(child=serializers.UUIDField())


class UploadRequestSerializer(serializers.Serializer):
    image = serializers.ListField(child=serializers.FileField(), help_text="One or more files (at most 50)")


class TaskSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=GalleryTask.Kind.choices)
    status = serializers.ChoiceField(choices=GalleryTask.Status.choices)
    domain = serializers.SlugField(allow_null=True)
    progress = serializers.DictField(child=serializers.IntegerField(), help_text="{done, total}")
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_blank=True, allow_null=True)
    created = serializers.DateTimeField()
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)


# Filters have limits but no example: Swagger would prefill them and filter every answer.
_PERSON_FILTERS = [
    OpenApiParameter("search", {"type": "string", "maxLength": 200}, description="Case-insensitive part of the name"),
    OpenApiParameter("external_id", {"type": "string", "maxLength": 200}, description="Exact external id"),
    OpenApiParameter("active", bool, description="Only active (true) or inactive (false) persons"),
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="Page number, from 1"),
    OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": 500},
                     description="Persons per page (default 50; more than 500 gives 500)"),
]
# The {slug} of every domain route; its example is the one the recognize and compare examples name.
_SLUG = OpenApiParameter(
    "slug", {"type": "string", "maxLength": DOMAIN_SLUG_MAX_LENGTH, "pattern": "^[-a-zA-Z0-9_]+$",
             "example": EXAMPLE_DOMAIN},
    OpenApiParameter.PATH, description="The domain (GET /api/v1/domains lists the key's)",
)
_NO_CONTENT = {204: OpenApiResponse(description="Deleted; searches no longer see it")}


def _replace(view_class, *, in_domain: bool = True, **methods):
    view = extend_schema_view(**methods)(type(view_class.__name__, (view_class,), {"__module__": view_class.__module__}))
    if in_domain:  # a route under /api/v1/domains/{slug}/
        view = extend_schema(parameters=[_SLUG])(view)
    return view


class DomainListSchema(OpenApiViewExtension):
    target_class = "gallery.apis.DomainListApi"

    def view_replacement(self):
        return _replace(self.target_class, in_domain=False, get=extend_schema(
            tags=TAGS, operation_id="domains_list", summary="The key's active domains",
            responses={200: DomainListSerializer}))


class PersonListSchema(OpenApiViewExtension):
    target_class = "gallery.apis.PersonListApi"

    def view_replacement(self):
        return _replace(
            self.target_class,
            get=extend_schema(tags=TAGS, operation_id="persons_list", summary="Persons of a domain (paginated)",
                              parameters=_PERSON_FILTERS, responses={200: PersonPageSerializer}),
            post=extend_schema(tags=TAGS, operation_id="persons_create",
                               summary="Create a person (idempotent on external_id)", request=PersonCreateSerializer,
                               responses={201: PersonSerializer,
                                          200: OpenApiResponse(PersonSerializer, description="external_id existed")}),
        )


class PersonDetailSchema(OpenApiViewExtension):
    target_class = "gallery.apis.PersonDetailApi"

    def view_replacement(self):
        return _replace(
            self.target_class,
            get=extend_schema(tags=TAGS, operation_id="persons_retrieve", summary="One person",
                              responses={200: PersonSerializer}),
            patch=extend_schema(tags=TAGS, operation_id="persons_update",
                                summary="Rename, set external_id, (de)activate",
                                request=PersonUpdateSerializer, responses={200: PersonSerializer, **errors(409)}),
            delete=extend_schema(tags=TAGS, operation_id="persons_destroy",
                                 summary="Delete a person with its photos and faces", responses=_NO_CONTENT),
        )


class PersonImagesSchema(OpenApiViewExtension):
    target_class = "gallery.apis.PersonImagesApi"

    def view_replacement(self):
        return _replace(
            self.target_class,
            get=extend_schema(tags=TAGS, operation_id="person_photos_list", summary="A person's photos",
                              responses={200: PhotoListSerializer}),
            post=extend_schema(
                tags=TAGS, operation_id="person_photos_upload",
                summary="Add photos; embedding runs as background tasks (202), or before answering with wait=1 (201)",
                parameters=[OpenApiParameter("wait", bool, description="Embed before answering")],
                request={"multipart/form-data": UploadRequestSerializer},
                responses={202: UploadSerializer, 201: OpenApiResponse(UploadSerializer, description="With wait=1"),
                           **errors(413, 415)},
            ),
        )


class PhotoDetailSchema(OpenApiViewExtension):
    target_class = "gallery.apis.PhotoDetailApi"

    def view_replacement(self):
        return _replace(
            self.target_class,
            get=extend_schema(tags=TAGS, summary="One photo with its faces", responses={200: PhotoSerializer}),
            delete=extend_schema(tags=TAGS, summary="Delete a photo and its faces", responses=_NO_CONTENT),
        )


class TaskDetailSchema(OpenApiViewExtension):
    target_class = "gallery.apis.TaskDetailApi"

    def view_replacement(self):
        return _replace(
            self.target_class,
            in_domain=False,
            get=extend_schema(tags=["tasks"], operation_id="tasks_retrieve",
                              summary="A background task's state and progress",
                              parameters=[OpenApiParameter("task_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
                              responses={200: TaskSerializer}),
        )
