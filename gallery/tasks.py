"""Celery tasks: thin doors into gallery services.

Each task takes the id of a GalleryTask row (which is also the Celery task id) and runs it through
``gallery_task_run``, which claims the row and calls the service. They are enqueued once the
transaction that recorded them commits, acknowledged late (a task whose worker is killed is
redelivered) and idempotent (a redelivered task that already finished is a no-op; one that was cut
short redoes work whose writes are guarded by unique constraints and row locks).

Queues: ``interactive`` for a client's uploads (seconds matter), ``bulk`` for batches, model
switches and file clean-up. ``FACEREC_QUEUE_PREFIX`` lets several deployments (or test runs) share
one broker.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from gallery.models import GalleryTask
from gallery.services import gallery_task_run

_RETRY = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(name="gallery.embed_photo", **_RETRY)
def embed_photo(task_id: str) -> None:
    """Detect and embed one uploaded photo."""
    gallery_task_run(task_id=task_id)


@shared_task(name="gallery.embed_batch", **_RETRY)
def embed_batch(task_id: str) -> None:
    """Detect and embed a batch of photos (ingest --async, admin re-embed)."""
    gallery_task_run(task_id=task_id)


@shared_task(name="gallery.reembed_domain", **_RETRY)
def reembed_domain(task_id: str) -> None:
    """Re-embed a domain's photos with its pending model, then switch to it."""
    gallery_task_run(task_id=task_id)


@shared_task(name="gallery.delete_files", **_RETRY)
def delete_files(task_id: str) -> None:
    """Delete the image files of removed persons or photos."""
    gallery_task_run(task_id=task_id)


_BY_KIND = {
    GalleryTask.Kind.EMBED_PHOTO: (embed_photo, "interactive"),
    GalleryTask.Kind.EMBED_BATCH: (embed_batch, "bulk"),
    GalleryTask.Kind.REEMBED_DOMAIN: (reembed_domain, "bulk"),
    GalleryTask.Kind.DELETE_FILES: (delete_files, "bulk"),
}

QUEUES = ("interactive", "bulk")


def queue_name(queue: str) -> str:
    return f"{settings.FACEREC_QUEUE_PREFIX}{queue}"


def dispatch(*, task_id, kind: str) -> None:
    task, queue = _BY_KIND[kind]
    task.apply_async(args=[str(task_id)], task_id=str(task_id), queue=queue_name(queue))
