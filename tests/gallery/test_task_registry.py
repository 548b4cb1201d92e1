"""One registry of background work: every kind of task is either run by a Celery task derived from
its entry, or a command's record; the Celery tasks keep their names, queues and retry options."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

from gallery import tasks
from gallery.models import GalleryTask
from gallery.services.tasks import RECORDED_ONLY, REGISTRY


def test_every_kind_is_either_dispatched_by_the_registry_or_only_recorded():
    assert set(REGISTRY) | RECORDED_ONLY == set(GalleryTask.Kind)
    assert not set(REGISTRY) & RECORDED_ONLY


def test_each_registry_entry_is_one_celery_task_on_its_queue():
    derived = {kind: (task.name, queue) for kind, (task, queue) in tasks._BY_KIND.items()}
    assert derived == {
        GalleryTask.Kind.EMBED_PHOTO: ("gallery.embed_photo", "interactive"),
        GalleryTask.Kind.EMBED_BATCH: ("gallery.embed_batch", "bulk"),
        GalleryTask.Kind.REEMBED_DOMAIN: ("gallery.reembed_domain", "bulk"),
        GalleryTask.Kind.DELETE_FILES: ("gallery.delete_files", "bulk"),
        # entered by recognition (RecognitionConfig.ready): the gallery does not import it
        GalleryTask.Kind.RECOGNIZE_BATCH: ("gallery.recognize_batch", "bulk"),
        GalleryTask.Kind.CLUSTER_FACES: ("gallery.cluster_faces", "bulk"),
    }
    for task, _ in tasks._BY_KIND.values():
        assert task.acks_late and task.retry_backoff and task.max_retries == 5
        assert set(task.autoretry_for) == {OperationalError, InterfaceError}
        assert task.__doc__ == REGISTRY[task.name.removeprefix("gallery.")].description


def test_the_celery_app_knows_every_registered_task():
    from facerec.celery import app

    assert {f"gallery.{kind}" for kind in REGISTRY} <= set(app.tasks)
