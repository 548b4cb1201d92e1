"""Prometheus metrics: every metric the service exports is defined here, prefixed ``facerec_``.

gunicorn runs several worker processes and Celery forks its own, so with
``PROMETHEUS_MULTIPROC_DIR`` set (deploy/systemd, ``make run``) each process writes its samples to
files in that directory and ``/metrics`` sums them across the processes of the machine. The
variable must be in the environment before ``prometheus_client`` is imported (it picks its value
class at import time), which is why the units and ``run_stack`` set it rather than settings.py.
Without it (tests, ``manage.py`` one-offs) the process's own registry is exported.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Unlabelled metrics create their sample files at definition, below.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

# Per-stage latency: decode and search are milliseconds, detect/embed tens to hundreds of them.
_STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

RECOGNIZE_STAGE_SECONDS = Histogram(
    "facerec_recognize_stage_seconds",
    "Time spent per recognize stage (decode, detect, align, embed, search, exact_search, total).",
    ["stage"],
    buckets=_STAGE_BUCKETS,
)
RECOGNIZE_FACES = Histogram(
    "facerec_recognize_faces",
    "Faces found per recognize request.",
    buckets=(0, 1, 2, 3, 5, 10, 20, 50, 100),
)
RECOGNIZE_REQUESTS = Counter(
    "facerec_recognize_requests_total",
    "Recognize requests by route and outcome: matched (at least one face named), unknown (faces, none "
    "named), no_face, or the error code of a refused request.",
    ["route", "outcome"],
)
RECOGNIZED_FACES = Counter(
    "facerec_recognized_faces_total",
    "Faces answered by recognize, by result (match or unknown).",
    ["result"],
)
COMPARE_REQUESTS = Counter(
    "facerec_compare_requests_total",
    "Compare requests by outcome: same, different, or the error code.",
    ["route", "outcome"],
)
DETECT_REQUESTS = Counter(
    "facerec_detect_requests_total",
    "Detect requests by outcome: faces, no_face, or the error code of a refused request.",
    ["route", "outcome"],
)
FACE_QUALITY_ISSUES = Counter(
    "facerec_face_quality_issues_total",
    "Faces answered by detect below their domain's quality bar, by issue (too_small, blurry, profile).",
    ["issue"],
)
INGEST_PHOTOS = Counter(
    "facerec_ingest_photos_total",
    "Face photos stored, by status (embedded, no_face, failed, pending).",
    ["status"],
)
INGEST_FACES = Counter(
    "facerec_ingest_faces_total",
    "Face embeddings stored, by model.",
    ["model"],
)
SHADOW_COMPARISONS = Counter(
    "facerec_shadow_comparisons_total",
    "Faces compared in shadow mode with the domain's legacy DeepFace file, by domain and result: agree "
    "(same top-1 person, or unknown both ways), disagree, or error (the file could not be searched).",
    ["domain", "result"],
)
TASK_FAILURES = Counter(
    "facerec_task_failures_total",
    "Celery tasks that raised, by task name.",
    ["task"],
)
TASK_RETRIES = Counter(
    "facerec_task_retries_total",
    "Celery tasks scheduled for a retry, by task name.",
    ["task"],
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def registry() -> CollectorRegistry:
    """The registry to export: all processes of this machine in multiprocess mode, else this one."""
    directory = multiprocess_dir()
    if directory is None:
        from prometheus_client import REGISTRY

        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected, path=directory)
    return collected


def exposition() -> tuple[bytes, str]:
    return generate_latest(registry()), CONTENT_TYPE_LATEST


# --- Hooks ------------------------------------------------------------------------------------


def recognize_observed(*, route: str, stages_ms: dict[str, float], faces: Iterable[bool]) -> None:
    """Record an answered recognize: per-stage timings (ms) and one bool per face (matched?)."""
    for stage, ms in stages_ms.items():
        RECOGNIZE_STAGE_SECONDS.labels(stage=stage).observe(ms / 1000.0)
    matched = list(faces)
    RECOGNIZE_FACES.observe(len(matched))
    for is_match in matched:
        RECOGNIZED_FACES.labels(result="match" if is_match else "unknown").inc()
    outcome = "no_face" if not matched else ("matched" if any(matched) else "unknown")
    RECOGNIZE_REQUESTS.labels(route=route, outcome=outcome).inc()


def recognize_refused(*, route: str, code: str) -> None:
    RECOGNIZE_REQUESTS.labels(route=route, outcome=code).inc()


def shadow_observed(*, domain: str, result: str) -> None:
    SHADOW_COMPARISONS.labels(domain=domain, result=result).inc()


def compare_observed(*, route: str, outcome: str) -> None:
    COMPARE_REQUESTS.labels(route=route, outcome=outcome).inc()


def detect_observed(*, route: str, faces: list[dict]) -> None:
    """Record an answered detect: its outcome and each face's quality issues."""
    DETECT_REQUESTS.labels(route=route, outcome="faces" if faces else "no_face").inc()
    for face in faces:
        for issue in (face.get("quality") or {}).get("issues", []):
            FACE_QUALITY_ISSUES.labels(issue=issue).inc()


def error_code(response) -> str:
    """The ``error.code`` of an error response of the API's contract."""
    data = getattr(response, "data", None)
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("code") or "error")
    return f"http_{response.status_code}"


# --- Signal receivers (connected in FacerecConfig.ready and facerec/celery.py) -----------------


def photo_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    # Counted when a photo is stored, and again when a task moves it out of "pending".
    if created or (update_fields and "status" in update_fields):
        INGEST_PHOTOS.labels(status=instance.status).inc()


def face_saved(sender, instance, created: bool, **kwargs) -> None:
    if created:
        INGEST_FACES.labels(model=instance.model_name).inc()


def task_failed(sender=None, **kwargs) -> None:
    TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()


def task_retried(sender=None, **kwargs) -> None:
    TASK_RETRIES.labels(task=getattr(sender, "name", "unknown")).inc()


# --- View mixins: record outcomes from the final response, errors included --------------------


class RecognizeMetrics:
    """For recognize views: answered requests are recorded from their ``timings_ms`` and faces,
    refused ones by error code. A view whose answer has another shape sets ``request.recognize_observed``
    to ``(stages_ms, [matched, ...])``."""

    metrics_route = "api_v1"

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            recognize_refused(route=self.metrics_route, code=error_code(response))
            return response
        observed = getattr(request, "recognize_observed", None)
        if observed is None and isinstance(getattr(response, "data", None), dict):
            data = response.data
            observed = (data.get("timings_ms", {}), [face.get("match") is not None for face in data.get("faces", [])])
        if observed is not None:
            recognize_observed(route=self.metrics_route, stages_ms=observed[0], faces=observed[1])
        return response


class DetectMetrics:
    metrics_route = "api_v1"

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            DETECT_REQUESTS.labels(route=self.metrics_route, outcome=error_code(response)).inc()
        elif isinstance(getattr(response, "data", None), dict):
            detect_observed(route=self.metrics_route, faces=response.data.get("faces", []))
        return response


class CompareMetrics:
    metrics_route = "api_v1"

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            outcome = error_code(response)
        else:
            outcome = "same" if getattr(response, "data", {}).get("verified") else "different"
        compare_observed(route=self.metrics_route, outcome=outcome)
        return response


# --- Celery worker processes -----------------------------------------------------------------


def worker_process_exited(**kwargs) -> None:
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())


def worker_metrics_serve(**kwargs) -> None:
    """On a machine without the web service, the worker serves /metrics itself on
    ``FACEREC_WORKER_METRICS_PORT`` (all its pool processes summed, in multiprocess mode)."""
    port = os.environ.get("FACEREC_WORKER_METRICS_PORT")
    if port:
        from prometheus_client import start_http_server

        start_http_server(int(port), addr=os.environ.get("FACEREC_WORKER_METRICS_ADDR", "127.0.0.1"),
                          registry=registry())
