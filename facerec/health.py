"""Probes for load balancers and supervisors (/healthz, /readyz) and the Prometheus scrape (/metrics).

They are DRF views only so that the OpenAPI schema documents them; they need no API key and are
not throttled (a probe must never be refused because it probes often).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import renderers, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from facerec import metrics
from facerec.openapi import extend_schema


class ProbeView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []


_Ready = inline_serializer(
    "Readiness",
    {
        "status": serializers.ChoiceField(choices=["ready", "not_ready"]),
        "checks": inline_serializer(
            "ReadinessChecks",
            {
                "database": serializers.CharField(help_text='"ok" or what is wrong'),
                "broker": serializers.CharField(help_text='"ok" or what is wrong'),
                "model": serializers.CharField(help_text='"ok" or what is wrong'),
            },
        ),
    },
)


class HealthzView(ProbeView):
    @extend_schema(
        tags=["operations"],
        summary="Liveness: the process is alive",
        responses={200: inline_serializer("Liveness", {"status": serializers.CharField(default="ok")})},
    )
    def get(self, request):
        return Response({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            if cursor.fetchone() is None:
                return "the vector extension is not installed (run migrations)"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return f"database unavailable: {exc.__class__.__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith(_REDIS_SCHEMES):
            _ping_redis(url)
        else:
            from facerec.celery import app

            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        return f"broker unavailable: {exc.__class__.__name__}: {exc}"
    return None


# A Redis/Valkey broker (the deployed one) is pinged with redis-py, which the cache loads anyway,
# not through Celery: a web worker's probe must not pull Celery and kombu (~10 MB) into it.
_REDIS_SCHEMES = ("redis://", "rediss://", "redis+socket://")


def _ping_redis(url: str) -> None:
    import redis

    if url.startswith("redis+socket://"):  # kombu's name for a Unix socket
        url = "unix://" + url.removeprefix("redis+socket://")
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _check_model() -> str | None:
    from faces.models_zoo import ModelUnavailable
    from faces.pipeline import get_pipeline

    try:
        get_pipeline(settings.FACEREC_DEFAULT_MODEL, settings.FACEREC_DEFAULT_DETECTOR)
    except ModelUnavailable as exc:
        return str(exc)
    return None


class ReadyzView(ProbeView):
    @extend_schema(
        tags=["operations"],
        summary="Readiness: database, broker and the default model are usable",
        responses={200: _Ready, 503: OpenApiResponse(_Ready, description="Not ready; `checks` says what failed")},
    )
    def get(self, request):
        problems = {"database": _check_database(), "broker": _check_broker(), "model": _check_model()}
        details = {name: (problem or "ok") for name, problem in problems.items()}
        ready = not any(problems.values())
        return Response({"status": "ready" if ready else "not_ready", "checks": details}, status=200 if ready else 503)


class PrometheusRenderer(renderers.BaseRenderer):
    media_type = "text/plain"
    format = "prometheus"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class MetricsView(ProbeView):
    # Any Accept header is answered with the Prometheus text format.
    renderer_classes = [PrometheusRenderer]

    def perform_content_negotiation(self, request, force=False):
        return (self.renderer_classes[0](), PrometheusRenderer.media_type)

    @extend_schema(
        tags=["operations"],
        summary="Prometheus metrics (text exposition format, names prefixed facerec_)",
        responses={200: OpenApiResponse(response=str, description="Prometheus text format 0.0.4")},
    )
    def get(self, request):
        body, content_type = metrics.exposition()
        return HttpResponse(body, content_type=content_type)


healthz = HealthzView.as_view()
readyz = ReadyzView.as_view()
metrics_view = MetricsView.as_view()
