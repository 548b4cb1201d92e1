"""REST endpoints: recognize, detect, compare and batch recognition (validate -> service -> serialize)."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from facerec.errors import ApiError, NoFaceError
from facerec.metrics import CompareMetrics, DetectMetrics, RecognizeMetrics
from facerec.openapi import extend_schema
from faces.images import ImageRejected
from faces.models_zoo import ModelUnavailable, check_available
from faces.pipeline import StageTimer
from gallery.apis import uploaded_images
from gallery.auth import domain_for_key
from gallery.models import Domain, GalleryTask
from recognition import batch, schemas, services
from recognition.serializers import (
    CompareOptions,
    CompareResponse,
    DetectOptions,
    DetectResponse,
    RecognizeBatchAccepted,
    RecognizeBatchResults,
    RecognizeOptions,
    RecognizeResponse,
)


def read_image(request, validated: dict, field: str = "image") -> bytes:
    """The photo of a request: a multipart file ``field`` or JSON ``field_base64``."""
    upload = validated.get(field)
    encoded = validated.get(f"{field}_base64")
    if upload is not None:
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise ApiError(f"{field} is larger than {settings.MAX_UPLOAD_BYTES} bytes", code="too_large", status_code=413)
        return upload.read()
    if encoded:
        if len(encoded) > settings.MAX_UPLOAD_BYTES * 4 // 3 + 4:
            raise ApiError(f"{field} is larger than {settings.MAX_UPLOAD_BYTES} bytes", code="too_large", status_code=413)
        if encoded.startswith("data:") and "," in encoded:
            encoded = encoded.split(",", 1)[1]
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(f"{field}_base64 is not valid base64", code="invalid_base64") from None
    raise ApiError(f"{field} is required (a multipart file, or {field}_base64 in JSON)", code="image_required")


class OnePhoto(serializers.Serializer):
    """The photo fields of recognize and detect, leniently parsed: ``read_image`` gives the
    contract's errors (image_required, invalid_base64, too_large) instead of the serializer's."""

    image = serializers.FileField(required=False, allow_empty_file=True)
    image_base64 = serializers.CharField(required=False, trim_whitespace=True)


def photo_request(request, input_serializer: type[serializers.Serializer]) -> tuple[dict, Domain, bytes]:
    """A one-photo request's options (validated by ``input_serializer``), the key's domain and the photo."""
    serializer = input_serializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return data, domain_for_key(request.auth, data.get("domain")), read_image(request, data)


@contextmanager
def image_errors() -> Iterator[None]:
    """Translate pipeline exceptions into the API's error contract."""
    try:
        yield
    except ImageRejected as exc:
        raise ApiError(str(exc), code=exc.code, status_code=exc.status) from None
    except ModelUnavailable as exc:
        raise ApiError(str(exc), code="model_unavailable", status_code=503) from None
    except services.NoFaceFound as exc:
        raise NoFaceError(str(exc)) from None


class RecognizeApi(RecognizeMetrics, APIView):
    """POST /api/v1/recognize: every face of a photo with the best matching persons of a domain."""

    class InputSerializer(OnePhoto, RecognizeOptions):
        pass

    @extend_schema(**schemas.RECOGNIZE)
    def post(self, request):
        started = time.perf_counter()
        data, domain, image = photo_request(request, self.InputSerializer)
        threshold = data.get("threshold", domain.effective_threshold)
        timer = StageTimer()
        with image_errors():
            recognition = services.recognize(
                image,
                domain=domain,
                top_k=data["top_k"],
                threshold=threshold,
                max_faces=data.get("max_faces"),
                exact=data["exact"],
                quality_check=data["quality_check"],
                timer=timer,
            )
        timings = {**timer.stages, "total": (time.perf_counter() - started) * 1000}
        return Response(
            RecognizeResponse(
                {"domain": domain, "threshold": threshold, "recognition": recognition, "timings_ms": timings}
            ).data
        )


class DetectApi(DetectMetrics, APIView):
    """POST /api/v1/detect: every face of a photo with its box, landmarks and quality; no search."""

    class InputSerializer(OnePhoto, DetectOptions):
        pass

    @extend_schema(**schemas.DETECT)
    def post(self, request):
        started = time.perf_counter()
        data, domain, image = photo_request(request, self.InputSerializer)
        timer = StageTimer()
        with image_errors():
            detection = services.detect(image, domain=domain, max_faces=data.get("max_faces"), timer=timer)
        timings = {**timer.stages, "total": (time.perf_counter() - started) * 1000}
        return Response(DetectResponse({"domain": domain, "detection": detection, "timings_ms": timings}).data)


class CompareApi(CompareMetrics, APIView):
    """POST /api/v1/compare: are the largest faces of two photos the same person?"""

    class InputSerializer(CompareOptions):
        image1 = serializers.FileField(required=False, allow_empty_file=True)
        image1_base64 = serializers.CharField(required=False)
        image2 = serializers.FileField(required=False, allow_empty_file=True)
        image2_base64 = serializers.CharField(required=False)

    @extend_schema(**schemas.COMPARE)
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # Without a domain: the default model on its native alignment, with that pair's threshold.
        model_name, detector, threshold = settings.FACEREC_DEFAULT_MODEL, settings.FACEREC_DEFAULT_DETECTOR, None
        alignment = None
        if data.get("domain") or request.auth.domains.count() == 1:
            domain = domain_for_key(request.auth, data.get("domain"))
            model_name, detector, threshold = domain.model_name, domain.detector, domain.effective_threshold
            alignment = domain.alignment
        threshold = data.get("threshold", threshold)
        image1, image2 = read_image(request, data, "image1"), read_image(request, data, "image2")
        with image_errors():
            result = services.compare(
                image1, image2, model_name=model_name, detector=detector, alignment=alignment, threshold=threshold
            )
        return Response(CompareResponse(result).data, status=status.HTTP_200_OK)


class RecognizeBatchApi(APIView):
    """POST /api/v1/domains/{slug}/recognize-batch: photos recognized by a background task (202).

    Any key of the domain may ask, read-only ones too: like recognize, it adds nothing to the
    gallery (the photos are kept only until the task has recognized them)."""

    @extend_schema(**schemas.RECOGNIZE_BATCH)
    def post(self, request, slug: str):
        domain = domain_for_key(request.auth, slug)
        files = uploaded_images(request)
        with image_errors():
            check_available(domain.model_name, domain.detector)  # 503 now, rather than a failed task
        task = batch.recognize_batch_create(domain=domain, files=files)
        task.refresh_from_db()  # run already where Celery is eager
        results = request.build_absolute_uri(
            reverse("api-recognize-batch-results", kwargs={"slug": domain.slug, "task_id": task.pk})
        )
        return Response(RecognizeBatchAccepted({"task": task, "results": results}).data, status=status.HTTP_202_ACCEPTED)


class BatchRowPagination(PageNumberPagination):
    page_size = schemas.BATCH_RESULTS_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = schemas.BATCH_RESULTS_MAX_PAGE_SIZE


class RecognizeBatchResultsApi(APIView):
    """GET /api/v1/domains/{slug}/recognize-batch/{task_id}: the batch's state and rows, paginated."""

    @extend_schema(**schemas.RECOGNIZE_BATCH_RESULTS)
    def get(self, request, slug: str, task_id):
        domain = domain_for_key(request.auth, slug)
        task = get_object_or_404(GalleryTask, pk=task_id, domain=domain, kind=GalleryTask.Kind.RECOGNIZE_BATCH)
        paginator = BatchRowPagination()
        rows = paginator.paginate_queryset((task.result or {}).get("rows", []), request, view=self)
        return Response(RecognizeBatchResults({
            "task": task, "count": paginator.page.paginator.count, "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(), "rows": rows,
        }).data)
