"""``POST /recognize``: the old server's route, kept for the existing front end.

The front end posts multipart ``image`` + ``domain`` with the bare API key in ``Authorization`` and
reads ``{"status": "success", "recognized_faces": [...], "mode": "pgvector"}``. The search is the
v1 one (the domain's threshold, top-1 per face), and so are the errors: ``{"error": {...}}`` with
the same codes and statuses as ``/api/v1/recognize``. In shadow mode (recognition/shadow.py) it
answers as the old server did in its dual mode: ``"mode": "dual"`` and ``"comparison"`` (the
largest face's; each recognized face carries its own).
"""

from __future__ import annotations

import time

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from facerec.metrics import RecognizeMetrics
from facerec.openapi import extend_schema
from faces.pipeline import StageTimer
from recognition import services
from recognition.apis import image_errors, photo_request
from recognition.schemas import LEGACY_RECOGNIZE
from recognition.serializers import LegacyResponse, domain_field


class LegacyRecognizeApi(RecognizeMetrics, APIView):
    metrics_route = "legacy"

    class InputSerializer(serializers.Serializer):
        image = serializers.FileField(required=False, allow_empty_file=True)
        domain = domain_field()

    @extend_schema(**LEGACY_RECOGNIZE)
    def post(self, request):
        started = time.perf_counter()
        _, domain, image = photo_request(request, self.InputSerializer)
        timer = StageTimer()
        with image_errors():
            recognition = services.recognize(image, domain=domain, top_k=1, timer=timer)
        results = recognition.faces
        stages = {**timer.stages, "total": (time.perf_counter() - started) * 1000}
        request.recognize_observed = (stages, [result.match is not None for result in results])
        return Response(LegacyResponse({"status": "success", "recognition": recognition}).data)
