"""Fault: a Celery worker SIGKILLed in the middle of a batch. The message was not acknowledged
(acks_late), so it is delivered again to the next worker, which redoes the batch: every photo ends
with exactly one face, none doubled, none lost."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import uuid

import pytest
from django.core.management import call_command
from django.db.models import Count

from bench.scratch import wait_for
from gallery.models import FaceEmbedding, FacePhoto, GalleryTask
from tests.conftest import labels
from tests.gallery.conftest import ROOT, photo_tree, subprocess_env

pytestmark = pytest.mark.slow


def _start_worker(queues: str, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "facerec", "worker", "--pool", "solo", "-Q", queues, "-l", "info"],
        cwd=ROOT, env=subprocess_env(CELERY_VISIBILITY_TIMEOUT="4"), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.django_db(transaction=True)
def test_killed_worker_task_is_redone_without_duplicates(tmp_path, settings, celery_eager):
    celery_eager.conf.task_always_eager = False
    settings.FACEREC_QUEUE_PREFIX = f"test-{uuid.uuid4().hex[:8]}-"
    queues = ",".join(f"{settings.FACEREC_QUEUE_PREFIX}{name}" for name in ("interactive", "bulk"))
    root = photo_tree(tmp_path / "photos", sorted(labels())[:30])
    call_command("ingest_images", str(root), "--domain", "alpha", "--async", "--batch-size", "30", "--no-progress",
                 stdout=io.StringIO())
    task = GalleryTask.objects.get(kind="embed_batch")
    log = open(tmp_path / "worker.log", "w+")

    first = _start_worker(queues, log)
    try:
        wait_for(lambda: GalleryTask.objects.get(pk=task.pk).done >= 5, 180, "the first worker to embed 5 photos")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = GalleryTask.objects.get(pk=task.pk)
        assert killed_at.status == "running" and 5 <= killed_at.done < 30

        second = _start_worker(queues, log)
        try:
            wait_for(lambda: GalleryTask.objects.get(pk=task.pk).status in ("done", "failed"), 240, "the task to finish")
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        log.seek(0)
        print(log.read()[-3000:])

    task.refresh_from_db()
    assert task.status == "done" and task.attempts == 2, (task.status, task.attempts, task.error)
    assert FacePhoto.objects.count() == 30
    assert FacePhoto.objects.filter(status="pending").count() == 0
    per_photo = FaceEmbedding.objects.values("photo_id").annotate(n=Count("id"))
    assert per_photo.count() == FacePhoto.objects.filter(status="embedded").count() == 30
    assert max(row["n"] for row in per_photo) == 1
