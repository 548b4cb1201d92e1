"""REST endpoints of the gallery: domains, persons, their photos, and background tasks.

Every lookup is scoped to the caller's key: a domain outside its scope, or a person, photo or task
of such a domain, answers 404 exactly like one that does not exist. Writes need a ``--write`` key.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from facerec.errors import ApiError
from faces.images import ImageRejected
from faces.models_zoo import ModelUnavailable
from gallery import services
from gallery.auth import CanWrite, HasApiKey, domain_for_key
from gallery.models import Domain, FacePhoto, GalleryTask, Person

# Files accepted by one POST .../images request.
MAX_FILES_PER_REQUEST = 50


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


def persons_with_counts(domain: Domain):
    # face_count counts the faces of the model that serves the domain's searches
    return domain.persons.annotate(
        photo_count=Count("photos", distinct=True),
        face_count=Count("faces", filter=Q(faces__model_name=domain.model_name), distinct=True),
    )


def person_data(person: Person) -> dict:
    return {
        "id": person.id,
        "name": person.name,
        "external_id": person.external_id,
        "active": person.active,
        "photo_count": getattr(person, "photo_count", None),
        "face_count": getattr(person, "face_count", None),
        "created": person.created,
        "updated": person.updated,
    }


def photo_data(photo: FacePhoto) -> dict:
    faces = [{"model": face.model_name, "box": face.box, "detection_confidence": face.detection_confidence}
             for face in photo.faces.all()]
    return {
        "id": photo.id,
        "person_id": photo.person_id,
        "status": photo.status,
        "reason": photo.reason,
        "source_name": photo.source_name,
        "width": photo.width,
        "height": photo.height,
        "faces": faces,
        "created": photo.created,
    }


def task_data(task: GalleryTask) -> dict:
    return {
        "id": str(task.id),
        "kind": task.kind,
        "status": task.status,
        "domain": task.domain.slug if task.domain else None,
        "progress": {"done": task.done, "total": task.total},
        "result": task.result,
        "error": task.error,
        "created": task.created,
        "started": task.started,
        "finished": task.finished,
    }


class DomainListApi(GalleryApi):
    """GET /api/v1/domains: the key's active domains with their model settings and counts."""

    def get(self, request):
        domains = request.auth.domains.filter(active=True).annotate(
            person_count=Count("persons", distinct=True), photo_count=Count("photos", distinct=True)
        )
        return Response({"results": [self._data(domain) for domain in domains]})

    @staticmethod
    def _data(domain: Domain) -> dict:
        return {
            "slug": domain.slug,
            "name": domain.name,
            "model": domain.model_name,
            "detector": domain.detector,
            "threshold": domain.effective_threshold,
            "pending_model": domain.pending_model or None,
            "person_count": domain.person_count,
            "photo_count": domain.photo_count,
            "face_count": domain.faces.filter(model_name=domain.model_name).count(),
        }


class PersonListApi(GalleryApi):
    """GET (paginated, ``search`` by name) and POST (create; idempotent on ``external_id``)."""

    class FilterSerializer(serializers.Serializer):
        search = serializers.CharField(required=False, max_length=200)
        external_id = serializers.CharField(required=False, max_length=200)
        active = serializers.BooleanField(required=False, allow_null=True, default=None)

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        external_id = serializers.CharField(max_length=200, required=False, allow_null=True, default=None)
        active = serializers.BooleanField(required=False, default=True)

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
        paginator = PersonPagination()
        page = paginator.paginate_queryset(persons, request, view=self)
        return paginator.get_paginated_response([person_data(person) for person in page])

    def post(self, request, slug: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        domain = self.domain(slug)
        person, created = services.person_create(domain=domain, **serializer.validated_data)
        person = persons_with_counts(domain).get(pk=person.pk)
        return Response(person_data(person), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PersonDetailApi(GalleryApi):
    """GET, PATCH (name, external_id, active) and DELETE one person."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        external_id = serializers.CharField(max_length=200, required=False, allow_null=True)
        active = serializers.BooleanField(required=False)

    def get(self, request, slug: str, person_id: int):
        domain = self.domain(slug)
        return Response(person_data(get_object_or_404(persons_with_counts(domain), pk=person_id)))

    def patch(self, request, slug: str, person_id: int):
        serializer = self.InputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        person = self.person(slug, person_id)
        try:
            services.person_update(person=person, **serializer.validated_data)
        except services.ExternalIdTaken as exc:
            raise ApiError(str(exc), code="external_id_taken", status_code=status.HTTP_409_CONFLICT) from None
        return Response(person_data(persons_with_counts(person.domain).get(pk=person.pk)))

    def delete(self, request, slug: str, person_id: int):
        services.person_remove(person=self.person(slug, person_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PersonImagesApi(GalleryApi):
    """GET a person's photos; POST one or many ``image`` files.

    POST answers 202 with one embedding task per new photo (``GET /api/v1/tasks/{id}``); with
    ``?wait=1`` it embeds them before answering (201), so they are searchable when it returns."""

    class InputSerializer(serializers.Serializer):
        wait = serializers.BooleanField(required=False, default=False)

    def get(self, request, slug: str, person_id: int):
        photos = self.person(slug, person_id).photos.prefetch_related("faces")
        return Response({"results": [photo_data(photo) for photo in photos]})

    def post(self, request, slug: str, person_id: int):
        options = self.InputSerializer(data=request.query_params)
        options.is_valid(raise_exception=True)
        person = self.person(slug, person_id)
        files = self._files(request)
        try:
            uploaded = services.photos_upload(person=person, files=files)
        except ImageRejected as exc:
            raise ApiError(str(exc), code=exc.code, status_code=exc.status) from None
        tasks = [item.task for item in uploaded if item.task is not None]
        if options.validated_data["wait"]:
            try:
                for task in tasks:
                    services.gallery_task_run(task_id=task.pk)
            except ModelUnavailable as exc:  # photos stay pending (re-embed them from the admin later)
                raise ApiError(str(exc), code="model_unavailable", status_code=503) from None
        photos = FacePhoto.objects.prefetch_related("faces").in_bulk([item.photo.pk for item in uploaded])
        return Response(
            {
                "photos": [
                    {**photo_data(photos[item.photo.pk]), "created": item.created,
                     "task": str(item.task.pk) if item.task else None}
                    for item in uploaded
                ],
                "tasks": [str(task.pk) for task in tasks],
            },
            status=status.HTTP_201_CREATED if options.validated_data["wait"] else status.HTTP_202_ACCEPTED,
        )

    @staticmethod
    def _files(request) -> list[tuple[bytes, str]]:
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


class PhotoDetailApi(GalleryApi):
    """GET and DELETE one photo (its faces go with it, immediately)."""

    def photo(self, slug: str, photo_id: int, person_id: int | None) -> FacePhoto:
        photos = FacePhoto.objects.filter(domain=self.domain(slug))
        if person_id is not None:
            photos = photos.filter(person_id=person_id)
        return get_object_or_404(photos.prefetch_related("faces"), pk=photo_id)

    def get(self, request, slug: str, photo_id: int, person_id: int | None = None):
        return Response(photo_data(self.photo(slug, photo_id, person_id)))

    def delete(self, request, slug: str, photo_id: int, person_id: int | None = None):
        services.photo_remove(photo=self.photo(slug, photo_id, person_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskDetailApi(GalleryApi):
    """GET /api/v1/tasks/{id}: a background task's state and progress."""

    def get(self, request, task_id):
        # The key's active domains, as for persons: a deactivated domain's tasks answer 404 too.
        scope = request.auth.domains.filter(active=True).values("id")
        task = get_object_or_404(GalleryTask.objects.select_related("domain").filter(domain__in=scope), pk=task_id)
        return Response(task_data(task))
