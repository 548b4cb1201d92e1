"""Liveness and readiness probes for load balancers and systemd/k8s style supervisors."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request) -> JsonResponse:
    """The process is alive and serving requests."""
    return JsonResponse({"status": "ok"})


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
    from facerec.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        return f"broker unavailable: {exc.__class__.__name__}: {exc}"
    return None


def _check_model() -> str | None:
    from recognition.models_zoo import ModelUnavailable
    from recognition.pipeline import get_pipeline

    try:
        get_pipeline(settings.FACEREC_DEFAULT_MODEL, settings.FACEREC_DEFAULT_DETECTOR)
    except ModelUnavailable as exc:
        return str(exc)
    return None


@require_GET
def readyz(request) -> JsonResponse:
    """Ready to answer recognize: database, broker and the default model are all usable."""
    checks = {"database": _check_database(), "broker": _check_broker(), "model": _check_model()}
    details = {name: (problem or "ok") for name, problem in checks.items()}
    ready = not any(checks.values())
    return JsonResponse({"status": "ready" if ready else "not_ready", "checks": details}, status=200 if ready else 503)
