"""Celery tasks: thin doors into gallery services, one per entry of the background-work registry
(``gallery.services.tasks.REGISTRY``), named ``gallery.<kind>``.

Each task takes the id of a GalleryTask row (which is also the Celery task id) and runs it through
``gallery_task_run``, which claims the row and calls the kind's handler. They are enqueued once the
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

# The configured app, made current before any task below is enqueued: the project package no
# longer imports it eagerly (a web worker that only answers recognize never loads Celery), and
# without it a shared task would be sent through Celery's unconfigured default app.
import facerec.celery  # noqa: F401
from gallery.services.tasks import REGISTRY, BackgroundWork, gallery_task_run

_RETRY = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "max_retries": 5,
}

QUEUES = ("interactive", "bulk")


def _celery_task(kind: str, work: BackgroundWork):
    def run(task_id: str) -> None:
        gallery_task_run(task_id=task_id)

    run.__name__ = run.__qualname__ = str(kind)
    run.__doc__ = work.description
    return shared_task(name=f"gallery.{kind}", **_RETRY)(run)


# kind -> (Celery task, queue)
_BY_KIND = {kind: (_celery_task(kind, work), work.queue) for kind, work in REGISTRY.items()}


def queue_name(queue: str) -> str:
    return f"{settings.FACEREC_QUEUE_PREFIX}{queue}"


def dispatch(*, task_id, kind: str) -> None:
    task, queue = _BY_KIND[kind]
    task.apply_async(args=[str(task_id)], task_id=str(task_id), queue=queue_name(queue))
