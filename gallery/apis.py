"""REST endpoints of the gallery: domains, persons, their photos, and background tasks.

Every lookup is scoped to the caller's key: a domain outside its scope, or a person, photo or task
of such a domain, answers 404 exactly like one that does not exist. Writes need a ``--write`` key.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from facerec.errors import ApiError
from facerec.openapi import EXAMPLE_DOMAIN, errors, extend_schema
from faces.images import ImageRejected
from faces.models_zoo import ModelUnavailable
from gallery import services
from gallery.auth import CanWrite, HasApiKey, domain_for_key
from gallery.models import Domain, FaceCluster, FaceEmbedding, FacePhoto, GalleryTask, Person
from gallery.schemas import NO_CONTENT, SLUG, TAGS, TASK_ID, UPLOAD_BODY, WAIT
from gallery.serializers import (
    AssignmentSerializer,
    ClusterSerializer,
    DomainListSerializer,
    PersonSerializer,
    PhotoListSerializer,
    PhotoSerializer,
    TaskSerializer,
    UploadSerializer,
)

# Files accepted by one POST .../images request.
MAX_FILES_PER_REQUEST = 50
# A photo's faces as answers show them: with their person.
FACES = Prefetch("faces", queryset=FaceEmbedding.objects.select_related("person").order_by("position", "id"))


def uploaded_images(request) -> list[tuple[bytes, str]]:
    """The ``image`` files of a multipart upload as (bytes, the client's file name), within the
    limits every upload endpoint shares: at least one, at most ``MAX_FILES_PER_REQUEST``, none
    larger than ``MAX_UPLOAD_BYTES`` (413); a refused request stores nothing."""
    uploads = request.FILES.getlist("image")
    if not uploads:
        raise ApiError("image is required: one or more multipart files named 'image'", code="image_required")
    if len(uploads) > MAX_FILES_PER_REQUEST:
        raise ApiError(f"at most {MAX_FILES_PER_REQUEST} images per request", code="too_many_files")
    for upload in uploads:
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise ApiError(
                f"{upload.name} is larger than {settings.MAX_UPLOAD_BYTES} bytes", code="too_large", status_code=413
            )
    return [(upload.read(), upload.name or "") for upload in uploads]


class WriteKeyForUnsafeMethods(CanWrite):
    """Reads need any key of the domain; POST, PATCH and DELETE need a ``--write`` key."""

    def has_permission(self, request, view) -> bool:
        return request.method in ("GET", "HEAD", "OPTIONS") or super().has_permission(request, view)


class GalleryApi(APIView):
    permission_classes = [HasApiKey, WriteKeyForUnsafeMethods]

    def domain(self, slug: str) -> Domain:
        return domain_for_key(self.request.auth, slug)

    def person(self, slug: str, person_id: int) -> Person:
        return get_object_or_404(Person, pk=person_id, domain=self.domain(slug))


class PersonPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    page_query_description = "Page number, from 1"
    page_size_query_description = f"Persons per page (default {page_size}; more than {max_page_size} gives {max_page_size})"

    def get_schema_operation_parameters(self, view) -> list[dict]:
        """The page parameters with their limits (what drf-spectacular documents)."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters

    def get_paginated_response_schema(self, schema: dict) -> dict:
        """DRF's page (count, next, previous, results), with links that look like this API's."""
        paginated = super().get_paginated_response_schema(schema)
        for link, page in (("next", 3), ("previous", 1)):
            paginated["properties"][link]["example"] = f"https://facerec.example.org/api/v1/domains/{EXAMPLE_DOMAIN}/persons?page={page}"
        return paginated


def persons_with_counts(domain: Domain):
    # face_count counts the faces of the model that serves the domain's searches
    return domain.persons.annotate(
        photo_count=Count("photos", distinct=True),
        face_count=Count(
            "faces", filter=Q(faces__model_name=domain.model_name, faces__alignment=domain.alignment), distinct=True
        ),
    )


@extend_schema(tags=TAGS)
class DomainListApi(GalleryApi):
    """GET /api/v1/domains: the key's active domains with their model settings and counts."""

    @extend_schema(operation_id="domains_list", summary="The key's active domains",
                   responses={200: DomainListSerializer})
    def get(self, request):
        domains = request.auth.domains.filter(active=True).annotate(
            person_count=Count("persons", distinct=True), photo_count=Count("photos", distinct=True)
        )
        return Response(DomainListSerializer({"results": domains}).data)


@extend_schema(tags=TAGS, parameters=[SLUG])
class PersonListApi(GalleryApi):
    """GET (paginated, ``search`` by name) and POST (create; idempotent on ``external_id``)."""

    pagination_class = PersonPagination

    # Filters have limits but no example: Swagger would prefill them and filter every answer.
    class FilterSerializer(serializers.Serializer):
        search = serializers.CharField(required=False, max_length=200, help_text="Case-insensitive part of the name")
        external_id = serializers.CharField(required=False, max_length=200, help_text="Exact external id")
        active = serializers.BooleanField(required=False, allow_null=True, default=None,
                                          help_text="Only active (true) or inactive (false) persons")

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, style={"example": "Angelina Jolie"})
        external_id = serializers.CharField(
            max_length=200, required=False, allow_null=True, default=None, style={"example": "crm-42"},
            help_text="Unique per domain; POSTing it again returns the same person (200)",
        )
        active = serializers.BooleanField(required=False, default=True, style={"example": True})

        class Meta:
            ref_name = "PersonCreate"

    @extend_schema(operation_id="persons_list", summary="Persons of a domain (paginated)",
                   parameters=[FilterSerializer], responses={200: PersonSerializer(many=True)})
    def get(self, request, slug: str):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        persons = persons_with_counts(self.domain(slug)).order_by("name", "id")
        if filters.validated_data.get("search"):
            persons = persons.filter(name__icontains=filters.validated_data["search"])
        if filters.validated_data.get("external_id"):
            persons = persons.filter(external_id=filters.validated_data["external_id"])
        if filters.validated_data.get("active") is not None:
            persons = persons.filter(active=filters.validated_data["active"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(persons, request, view=self)
        return paginator.get_paginated_response(PersonSerializer(page, many=True).data)

    @extend_schema(operation_id="persons_create", summary="Create a person (idempotent on external_id)",
                   request=InputSerializer,
                   responses={201: PersonSerializer,
                              200: OpenApiResponse(PersonSerializer, description="external_id existed")})
    def post(self, request, slug: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        domain = self.domain(slug)
        person, created = services.person_create(domain=domain, **serializer.validated_data)
        person = persons_with_counts(domain).get(pk=person.pk)
        return Response(PersonSerializer(person).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@extend_schema(tags=TAGS, parameters=[SLUG])
class PersonDetailApi(GalleryApi):
    """GET, PATCH (name, external_id, active) and DELETE one person."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, style={"example": "Angelina Jolie"})
        external_id = serializers.CharField(
            max_length=200, required=False, allow_null=True, style={"example": "crm-42"},
            help_text="null clears it; one used by another person of the domain answers 409",
        )
        active = serializers.BooleanField(required=False, style={"example": True})

        class Meta:
            ref_name = "PersonUpdate"

    @extend_schema(operation_id="persons_retrieve", summary="One person", responses={200: PersonSerializer})
    def get(self, request, slug: str, person_id: int):
        domain = self.domain(slug)
        return Response(PersonSerializer(get_object_or_404(persons_with_counts(domain), pk=person_id)).data)

    @extend_schema(operation_id="persons_update", summary="Rename, set external_id, (de)activate",
                   request=InputSerializer, responses={200: PersonSerializer, **errors(409)})
    def patch(self, request, slug: str, person_id: int):
        serializer = self.InputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        person = self.person(slug, person_id)
        try:
            services.person_update(person=person, **serializer.validated_data)
        except services.ExternalIdTaken as exc:
            raise ApiError(str(exc), code="external_id_taken", status_code=status.HTTP_409_CONFLICT) from None
        return Response(PersonSerializer(persons_with_counts(person.domain).get(pk=person.pk)).data)

    @extend_schema(operation_id="persons_destroy", summary="Delete a person with its photos and faces",
                   responses=NO_CONTENT)
    def delete(self, request, slug: str, person_id: int):
        services.person_remove(person=self.person(slug, person_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PhotoUploadApi(GalleryApi):
    """The one upload path of a person's photos and of archive photos: limits, errors and
    ``?wait=1`` are the same. POST answers 202 with one embedding task per new photo (``GET
    /api/v1/tasks/{id}``); with ``?wait=1`` it embeds them before answering (201), so they are
    searchable (or clustered) when it returns."""

    class InputSerializer(serializers.Serializer):
        wait = serializers.BooleanField(required=False, default=False)

    def upload(self, request, *, person: Person | None, domain: Domain | None = None) -> Response:
        """Store the request's files for ``person`` (None: archive photos of ``domain``): the one
        upload path of both routes, so limits, errors and ``wait`` are the same."""
        options = self.InputSerializer(data=request.query_params)
        options.is_valid(raise_exception=True)
        files = uploaded_images(request)
        try:
            uploaded = services.photos_upload(person=person, domain=domain, files=files)
        except ImageRejected as exc:
            raise ApiError(str(exc), code=exc.code, status_code=exc.status) from None
        tasks = [item.task for item in uploaded if item.task is not None]
        if options.validated_data["wait"]:
            try:
                for task in tasks:
                    services.gallery_task_run(task_id=task.pk)
            except ModelUnavailable as exc:  # photos stay pending (re-embed them from the admin later)
                raise ApiError(str(exc), code="model_unavailable", status_code=503) from None
            if person is None and tasks:  # archive photos: their faces are in clusters when it answers
                services.clusters_update(domain=domain)
        # The photos as they are now (embedded, with wait=1), faces included.
        photos = FacePhoto.objects.prefetch_related(FACES).in_bulk([item.photo.pk for item in uploaded])
        uploaded = [dataclasses.replace(item, photo=photos[item.photo.pk]) for item in uploaded]
        return Response(
            UploadSerializer({"photos": uploaded, "tasks": [task.pk for task in tasks]}).data,
            status=status.HTTP_201_CREATED if options.validated_data["wait"] else status.HTTP_202_ACCEPTED,
        )


@extend_schema(tags=TAGS, parameters=[SLUG])
class PersonImagesApi(PhotoUploadApi):
    """GET a person's photos; POST one or many ``image`` files."""

    @extend_schema(operation_id="person_photos_list", summary="A person's photos",
                   responses={200: PhotoListSerializer})
    def get(self, request, slug: str, person_id: int):
        photos = self.person(slug, person_id).photos.prefetch_related(FACES)
        return Response(PhotoListSerializer({"results": photos}).data)

    @extend_schema(
        operation_id="person_photos_upload",
        summary="Add photos; embedding runs as background tasks (202), or before answering with wait=1 (201)",
        parameters=[WAIT], request={"multipart/form-data": UPLOAD_BODY},
        responses={202: UploadSerializer, 201: OpenApiResponse(UploadSerializer, description="With wait=1"),
                   **errors(413, 415)},
    )
    def post(self, request, slug: str, person_id: int):
        return self.upload(request, person=self.person(slug, person_id))


@extend_schema(tags=TAGS, parameters=[SLUG])
class DomainImagesApi(PhotoUploadApi):
    """POST archive photos: one or many ``image`` files without a person. Every face in them is
    kept unassigned (never returned by recognize) and grouped into clusters of unknown people
    (GET .../clusters) once embedded."""

    @extend_schema(
        operation_id="domain_photos_upload",
        summary="Add archive photos without a person; their faces are clustered (202, or 201 with wait=1)",
        parameters=[WAIT], request={"multipart/form-data": UPLOAD_BODY},
        responses={202: UploadSerializer, 201: OpenApiResponse(UploadSerializer, description="With wait=1"),
                   **errors(413, 415)},
    )
    def post(self, request, slug: str):
        return self.upload(request, person=None, domain=self.domain(slug))


class ClusterPagination(PersonPagination):
    page_size = 20
    page_size_query_description = "Clusters per page (default 20; more than 500 gives 500)"


def clusters_listed(domain: Domain):
    """The domain's clusters that can be named: not dismissed, not empty, largest first."""
    faces = FaceEmbedding.objects.filter(person__isnull=True).select_related("photo").order_by("id")
    return (
        FaceCluster.objects.filter(domain=domain, dismissed=False)
        .annotate(size=Count("faces", filter=Q(faces__person__isnull=True)))
        .filter(size__gt=0)
        .select_related("suggestion")
        .prefetch_related(Prefetch("faces", queryset=faces))
        .order_by("-size", "id")
    )


class ClusterApi(GalleryApi):
    def cluster(self, slug: str, cluster_id: int) -> FaceCluster:
        return get_object_or_404(FaceCluster, pk=cluster_id, domain=self.domain(slug), dismissed=False)


@extend_schema(tags=TAGS, parameters=[SLUG])
class ClusterListApi(ClusterApi):
    """GET the domain's clusters of unknown people, largest first (dismissed ones never)."""

    pagination_class = ClusterPagination

    @extend_schema(operation_id="clusters_list", summary="Clusters of unassigned faces, largest first (paginated)",
                   responses={200: ClusterSerializer(many=True)})
    def get(self, request, slug: str):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(clusters_listed(self.domain(slug)), request, view=self)
        return paginator.get_paginated_response(ClusterSerializer(page, many=True).data)


def _conflict(exc: Exception) -> ApiError:
    return ApiError(str(exc), code="cluster_conflict", status_code=status.HTTP_409_CONFLICT)


@extend_schema(tags=TAGS, parameters=[SLUG])
class ClusterAssignApi(ClusterApi):
    """POST: give every face of a cluster to a new person (``name``) or an existing one
    (``person_id``, of the same domain). The faces are searchable from the next request. A cluster
    named or dismissed by someone else meanwhile answers 409 ``cluster_conflict``."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, style={"example": "Angelina Jolie"},
                                     help_text="Create a person with this name")
        person_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, style={"example": None},
                                             help_text="An existing person of the domain (instead of name)")

        class Meta:
            ref_name = "ClusterAssign"

        def validate(self, data):
            if bool(data.get("name")) == (data.get("person_id") is not None):
                raise serializers.ValidationError("give either name or person_id")
            return data

    # JSON only: one request names a cluster once (a form would be a second, refused, try).
    parser_classes = [JSONParser]

    @extend_schema(operation_id="clusters_assign", summary="Name a cluster: its faces join a person",
                   request=InputSerializer, responses={200: AssignmentSerializer, **errors(409)})
    def post(self, request, slug: str, cluster_id: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cluster = self.cluster(slug, cluster_id)
        person = None
        if serializer.validated_data.get("person_id") is not None:
            person = get_object_or_404(Person, pk=serializer.validated_data["person_id"], domain_id=cluster.domain_id)
        try:
            assignment = services.cluster_assign(
                cluster=cluster, name=None if person else serializer.validated_data["name"], person=person
            )
        except services.ClusterConflict as exc:
            raise _conflict(exc) from None
        return Response(AssignmentSerializer(assignment).data)


@extend_schema(tags=TAGS, parameters=[SLUG])
class ClusterFaceRemoveApi(ClusterApi):
    """DELETE one face from a cluster: it becomes a cluster of its own (nothing is deleted)."""

    @extend_schema(operation_id="clusters_face_remove", summary="Take a face out of a cluster",
                   responses={200: ClusterSerializer, **errors(409)})
    def delete(self, request, slug: str, cluster_id: int, face_id: int):
        cluster = self.cluster(slug, cluster_id)
        try:
            alone = services.cluster_face_remove(cluster=cluster, face_id=face_id)
        except services.ClusterConflict as exc:
            raise _conflict(exc) from None
        except FaceEmbedding.DoesNotExist:
            raise ApiError(f"face {face_id} is not in cluster {cluster_id}", code="not_found", status_code=404) from None
        return Response(ClusterSerializer(clusters_listed(cluster.domain).get(pk=alone.pk)).data)


@extend_schema(tags=TAGS, parameters=[SLUG])
class ClusterDismissApi(ClusterApi):
    """POST: dismiss a cluster; never listed nor suggested again."""

    @extend_schema(operation_id="clusters_dismiss", summary="Dismiss a cluster", request=None,
                   responses={204: OpenApiResponse(description="Dismissed"), **errors(409)})
    def post(self, request, slug: str, cluster_id: int):
        try:
            services.cluster_dismiss(cluster=self.cluster(slug, cluster_id))
        except services.ClusterConflict as exc:
            raise _conflict(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=TAGS, parameters=[SLUG])
class PhotoDetailApi(GalleryApi):
    """GET and DELETE one photo (its faces go with it, immediately)."""

    def photo(self, slug: str, photo_id: int, person_id: int | None) -> FacePhoto:
        photos = FacePhoto.objects.filter(domain=self.domain(slug))
        if person_id is not None:
            photos = photos.filter(person_id=person_id)
        return get_object_or_404(photos.prefetch_related(FACES), pk=photo_id)

    @extend_schema(summary="One photo with its faces", responses={200: PhotoSerializer})
    def get(self, request, slug: str, photo_id: int, person_id: int | None = None):
        return Response(PhotoSerializer(self.photo(slug, photo_id, person_id)).data)

    @extend_schema(summary="Delete a photo and its faces", responses=NO_CONTENT)
    def delete(self, request, slug: str, photo_id: int, person_id: int | None = None):
        services.photo_remove(photo=self.photo(slug, photo_id, person_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["tasks"])
class TaskDetailApi(GalleryApi):
    """GET /api/v1/tasks/{id}: a background task's state and progress."""

    @extend_schema(operation_id="tasks_retrieve", summary="A background task's state and progress",
                   parameters=[TASK_ID], responses={200: TaskSerializer})
    def get(self, request, task_id):
        # The key's active domains, as for persons: a deactivated domain's tasks answer 404 too.
        scope = request.auth.domains.filter(active=True).values("id")
        task = get_object_or_404(GalleryTask.objects.select_related("domain").filter(domain__in=scope), pk=task_id)
        return Response(TaskSerializer(task).data)
