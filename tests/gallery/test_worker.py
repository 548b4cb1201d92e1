"""A real Celery worker process against the real broker (the embedded Valkey) and the test
database: uploads are embedded by it, removals are immediate, and file clean-up runs there."""

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gallery.models import FacePhoto, GalleryTask
from tests.conftest import face_bytes
from tests.gallery.conftest import ROOT, subprocess_env


@pytest.fixture
def worker(settings, celery_eager, tmp_path):
    """A `celery worker` subprocess consuming this test's own queues (a unique prefix, so that no
    other worker on the same broker takes its tasks)."""
    celery_eager.conf.task_always_eager = False
    settings.FACEREC_QUEUE_PREFIX = f"test-{uuid.uuid4().hex[:8]}-"
    queues = ",".join(f"{settings.FACEREC_QUEUE_PREFIX}{name}" for name in ("interactive", "bulk"))
    log = open(tmp_path / "worker.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "facerec", "worker", "--pool", "solo", "-Q", queues, "-l", "info"],
        cwd=ROOT, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.seek(0)
    print(log.read()[-3000:])  # shown when the test fails


def wait_for(task_id: str, timeout: float = 180) -> GalleryTask:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = GalleryTask.objects.get(pk=task_id)
        if task.status in ("done", "failed"):
            return task
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} still {task.status} after {timeout}s")


def recognize(persona, name: str) -> dict:
    upload = SimpleUploadedFile(name, face_bytes(name), content_type="image/jpeg")
    return persona.client.post("/api/v1/recognize", {"image": upload}, format="multipart").json()["faces"][0]


@pytest.mark.django_db(transaction=True)
def test_worker_embeds_uploads_and_cleans_up_a_removed_person(alpha, alice, worker):
    person = alice.client.post("/api/v1/domains/alpha/persons", {"name": "Angelina"}, format="json").json()
    files = [SimpleUploadedFile(n, face_bytes(n), content_type="image/jpeg") for n in ("img1.jpg", "img2.jpg")]

    response = alice.client.post(f"/api/v1/domains/alpha/persons/{person['id']}/images", {"image": files})

    assert response.status_code == 202
    tasks = [wait_for(task_id) for task_id in response.json()["tasks"]]
    assert [task.status for task in tasks] == ["done", "done"], [task.error for task in tasks]
    assert all(task.result == {"embedded": 1} for task in tasks)
    assert recognize(alice, "img4.jpg")["match"]["person"]["id"] == person["id"]

    stored = [photo.image.path for photo in FacePhoto.objects.all()]
    assert len(stored) == 2 and all(os.path.exists(path) for path in stored)
    assert alice.client.delete(f"/api/v1/domains/alpha/persons/{person['id']}").status_code == 204

    assert recognize(alice, "img4.jpg")["match"] is None  # the very next request
    cleanup = wait_for(str(GalleryTask.objects.get(kind="delete_files").pk))
    assert cleanup.status == "done" and cleanup.result == {"deleted": 2}
    assert not any(os.path.exists(path) for path in stored)
