"""Background work: the registry of what each kind of task does and on which queue, and the
runner every Celery task calls (gallery/tasks.py derives one Celery task per entry).

A new kind of background work is a ``GalleryTask.Kind`` choice, one entry in ``REGISTRY`` and its
handler (a service taking the task's record and returning its result); ``gallery_task_create``
records and enqueues it. Work of a layer above the gallery (recognition's batch recognition) is
entered by that layer with ``background_work_register`` from its ``AppConfig.ready``, so the
gallery never imports it; every app is ready before gallery/tasks.py derives the Celery tasks.
``RECORDED_ONLY`` kinds are commands that record themselves as tasks
(``gallery_task_start``) but run where they are started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from django.db import InterfaceError, OperationalError
from django.db.models import F
from django.utils import timezone

from gallery.models import GalleryTask
from gallery.services.audit import Actor, acting
from gallery.services.clusters import clusters_update_run
from gallery.services.embedding import photos_embed_run
from gallery.services.erasure import files_delete_run
from gallery.services.model_switch import domain_reembed
from gallery.services.task_records import gallery_task_finish

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackgroundWork:
    handler: Callable[..., dict]  # handler(task=GalleryTask) -> the task's result
    # "interactive" for work a client waits for (seconds matter), "bulk" for batches, model
    # switches and clean-up (hours of work that must not delay the former).
    queue: Literal["interactive", "bulk"]
    description: str


REGISTRY: dict[str, BackgroundWork] = {
    GalleryTask.Kind.EMBED_PHOTO: BackgroundWork(photos_embed_run, "interactive", "Detect and embed one uploaded photo."),
    GalleryTask.Kind.EMBED_BATCH: BackgroundWork(
        photos_embed_run, "bulk", "Detect and embed a batch of photos (ingest --async, admin re-embed)."
    ),
    GalleryTask.Kind.REEMBED_DOMAIN: BackgroundWork(
        domain_reembed, "bulk", "Re-embed a domain's photos with its pending model, then switch to it."
    ),
    GalleryTask.Kind.DELETE_FILES: BackgroundWork(
        files_delete_run, "bulk", "Delete the image files of removed persons or photos."
    ),
    GalleryTask.Kind.CLUSTER_FACES: BackgroundWork(
        clusters_update_run, "bulk", "Group a domain's new unassigned faces into clusters of unknown people."
    ),
}
RECORDED_ONLY = {GalleryTask.Kind.INGEST, GalleryTask.Kind.IMPORT_PKL}


def background_work_register(*, kind: str, work: BackgroundWork) -> None:
    """Enter an upper layer's kind of work in the registry (from its ``AppConfig.ready``)."""
    if kind in REGISTRY and REGISTRY[kind] != work:
        raise ValueError(f"{kind} is already registered")
    REGISTRY[kind] = work


def gallery_task_run(*, task_id) -> GalleryTask | None:
    """Run a recorded task. A task already done or failed is not run again (a redelivered message
    is a no-op); one left ``running`` by a killed worker is run again, which its work allows. Its
    changes are recorded as made by whoever enqueued it (the actor in its params)."""
    claimed = GalleryTask.objects.filter(
        pk=task_id, status__in=[GalleryTask.Status.QUEUED, GalleryTask.Status.RUNNING]
    ).update(status=GalleryTask.Status.RUNNING, attempts=F("attempts") + 1, started=timezone.now())
    if not claimed:
        return None
    task = GalleryTask.objects.get(pk=task_id)
    try:
        with acting(Actor.from_dict(task.params.get("actor"))):
            result = REGISTRY[task.kind].handler(task=task)
    except (OperationalError, InterfaceError):
        raise  # the database is unavailable: the task stays running and Celery retries it
    except Exception as exc:
        logger.exception("task %s (%s) failed", task.pk, task.kind)
        gallery_task_finish(task=task, status=GalleryTask.Status.FAILED, error=f"{exc.__class__.__name__}: {exc}")
        raise
    gallery_task_finish(task=task, status=GalleryTask.Status.DONE, result=result)
    task.refresh_from_db()
    return task
