"""Task records: the GalleryTask rows that are the state of background work (what the API's task
ids and the admin show), and of the commands that record themselves there (ingest, PKL import)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from gallery.models import Domain, GalleryTask
from gallery.services.audit import actor_current


def gallery_task_create(*, kind: str, domain: Domain | None, params: dict, total: int = 0) -> GalleryTask:
    """Record a task and hand it to Celery once the current transaction commits. The task carries
    who asked for it (``params["actor"]``): what it changes is recorded as theirs."""
    params = {**params, "actor": actor_current().as_dict()}
    task = GalleryTask.objects.create(kind=kind, domain=domain, params=params, total=total)
    transaction.on_commit(lambda: gallery_task_dispatch(task=task))
    return task


def gallery_task_dispatch(*, task: GalleryTask) -> None:
    from gallery import tasks  # the Celery door, above the services that record what it runs

    tasks.dispatch(task_id=task.pk, kind=task.kind)


def gallery_task_start(*, kind: str, domain: Domain | None, params: dict, total: int = 0) -> GalleryTask:
    """Record work that runs here and now (a command), as running."""
    return GalleryTask.objects.create(
        kind=kind, domain=domain, params=params, total=total, status=GalleryTask.Status.RUNNING,
        started=timezone.now(),
    )


def gallery_task_advance(*, task: GalleryTask, by: int, result: dict | None = None) -> None:
    """Count ``by`` more items done (and replace the result so far, e.g. a resume cursor)."""
    update = {"done": F("done") + by}
    if result is not None:
        update["result"] = result
    GalleryTask.objects.filter(pk=task.pk).update(**update)


def gallery_task_finish(
    *, task: GalleryTask, status: str, result: dict | None = None, error: str = "", done: int | None = None
) -> None:
    update = {"status": status, "error": error, "finished": timezone.now()}
    if result is not None:
        update["result"] = result
    if done is not None:
        update["done"] = done
    GalleryTask.objects.filter(pk=task.pk).update(**update)
