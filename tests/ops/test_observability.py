import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import add_photos, face_bytes


def _upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, face_bytes(name), content_type="image/jpeg")


def _sample(text: str, name: str, **labels) -> float:
    """The value of one sample in a Prometheus text exposition (0.0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_healthz_needs_no_key(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_with_database_broker_and_model(db, client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok", "model": "ok"}}


def test_readyz_is_503_naming_the_failing_check(db, client, tmp_path, settings):
    # A broker that is really unreachable: a Unix socket nobody listens on.
    saved = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = f"redis+socket://{tmp_path}/nobody-listens.sock"
    try:
        response = client.get("/readyz")
    finally:
        settings.CELERY_BROKER_URL = saved

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"] == "ok" and body["checks"]["model"] == "ok"
    assert body["checks"]["broker"].startswith("broker unavailable: ")
    assert client.get("/readyz").status_code == 200  # and ready again once the broker is back


def test_readyz_is_503_naming_missing_model_weights(db, client, settings):
    settings.FACEREC_DEFAULT_MODEL = "ArcFace"  # no weights on this machine

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "arcface_weights.h5" in response.json()["checks"]["model"]


def test_metrics_count_recognize_stages_faces_and_outcomes(alpha, alice, client):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    before = client.get("/metrics").content.decode()

    assert alice.client.post("/api/v1/recognize", {"image": _upload("img4.jpg")}, format="multipart").status_code == 200
    assert alice.client.post("/api/v1/recognize", {"image": _upload("img17.jpg")}, format="multipart").status_code == 200
    refused = alice.client.post("/api/v1/recognize", {"image": SimpleUploadedFile("x.jpg", b"not an image")},
                                format="multipart")
    assert refused.status_code == 415

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    after = response.content.decode()

    def delta(name, **labels):
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert delta("facerec_recognize_requests_total", route="api_v1", outcome="matched") == 1
    assert delta("facerec_recognize_requests_total", route="api_v1", outcome="unknown") == 1
    assert delta("facerec_recognize_requests_total", route="api_v1", outcome="unsupported_image") == 1
    assert delta("facerec_recognized_faces_total", result="match") == 1
    for stage in ("decode", "detect", "embed", "search", "total"):
        assert delta("facerec_recognize_stage_seconds_count", stage=stage) == 2, stage
    assert delta("facerec_recognize_faces_count") == 2
    assert delta("facerec_recognize_faces_sum") == 2
    # The two gallery photos were ingested with a face each.
    assert _sample(after, "facerec_ingest_photos_total", status="embedded") >= 2
    assert _sample(after, "facerec_ingest_faces_total", model="Dlib") >= 2


def test_task_failures_are_counted(db, client):
    from facerec.celery import app

    @app.task(name="tests.ops.always_fails")
    def always_fails():
        raise RuntimeError("boom")

    before = _sample(client.get("/metrics").content.decode(), "facerec_task_failures_total", task="tests.ops.always_fails")
    result = always_fails.apply(throw=False)
    assert result.failed()
    after = _sample(client.get("/metrics").content.decode(), "facerec_task_failures_total", task="tests.ops.always_fails")
    assert after - before == 1


def test_request_id_is_echoed_and_logged(db, client, caplog):
    caplog.set_level(logging.INFO)
    from facerec.logging import RequestIdFilter

    handler_filter = RequestIdFilter()
    caplog.handler.addFilter(handler_filter)

    response = client.get("/api/v1/recognize", HTTP_X_REQUEST_ID="abc-123")  # 401, logged as a warning
    assert response["X-Request-ID"] == "abc-123"
    assert any(getattr(record, "request_id", None) == "abc-123" for record in caplog.records)

    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32 and generated != "abc-123"
    # A header that could forge log lines is replaced, not trusted.
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nforged")["X-Request-ID"] != "bad id\nforged"


def test_json_log_format_writes_one_object_per_line():
    from facerec.logging import JsonFormatter, _request_id

    token = _request_id.set("req-42")
    try:
        record = logging.LogRecord("facerec.test", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
        record.photo_id = 7
        line = JsonFormatter().format(record)
    finally:
        _request_id.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert entry["level"] == "WARNING" and entry["logger"] == "facerec.test"
    assert entry["request_id"] == "req-42"
    assert entry["photo_id"] == 7


def test_log_format_setting_is_validated():
    from django.core.exceptions import ImproperlyConfigured

    from facerec.logging import logging_config

    assert logging_config(fmt="json", level="INFO")["handlers"]["console"]["formatter"] == "json"
    with pytest.raises(ImproperlyConfigured):
        logging_config(fmt="xml", level="INFO")


def test_request_id_travels_with_the_tasks_a_request_enqueues():
    """The publish hook stamps the id on the task's headers; the worker-side hooks bind it while
    the task runs (and a task without one gets ``task-<id>``)."""
    from types import SimpleNamespace

    from facerec.logging import _request_id, current_request_id, task_finished, task_publishing, task_starting

    headers = {}
    token = _request_id.set("req-from-web")
    try:
        task_publishing(headers=headers)
    finally:
        _request_id.reset(token)
    assert headers == {"request_id": "req-from-web"}

    task = SimpleNamespace(request=SimpleNamespace(headers=headers, request_id=None))
    task_starting(task=task, task_id="t-1")
    assert current_request_id() == "req-from-web"
    task_finished(task=task)
    assert current_request_id() is None

    orphan = SimpleNamespace(request=SimpleNamespace(headers={}, request_id=None))
    task_starting(task=orphan, task_id="t-2")
    assert current_request_id() == "task-t-2"
    task_finished(task=orphan)
    assert current_request_id() is None


def test_ingest_counters_follow_photos_through_the_upload_api(alpha, alice, client):
    """A photo uploaded through the API is stored pending, then embedded by its task: both count."""
    person = alice.client.post("/api/v1/domains/alpha/persons", {"name": "Angelina"}, format="json").json()
    before = client.get("/metrics").content.decode()

    response = alice.client.post(f"/api/v1/domains/alpha/persons/{person['id']}/images?wait=1",
                                 {"image": [_upload("img1.jpg"), _upload("img17.jpg")]}, format="multipart")
    assert response.status_code == 201, response.content

    after = client.get("/metrics").content.decode()
    for status in ("pending", "embedded"):
        name = "facerec_ingest_photos_total"
        assert _sample(after, name, status=status) - _sample(before, name, status=status) == 2, status
    assert _sample(after, "facerec_ingest_faces_total", model="Dlib") - _sample(before, "facerec_ingest_faces_total",
                                                                                model="Dlib") == 2
