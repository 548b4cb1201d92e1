"""Batch recognition of an archive: every face of many photos, one row each, through the same
``services.recognize`` as ``POST /api/v1/recognize`` with its default options (so a row's person,
distance and box are what that endpoint answers for the photo).

Two doors: ``manage.py recognize_images`` over a folder (rows written to a report file), and
``POST /api/v1/domains/{slug}/recognize-batch`` over uploaded photos, run by the
``recognize_batch`` background task (rows kept on the task's record). Uploaded photos are not
gallery photos: each is stored only until the task has recognized it, then deleted (and all of them
when the task fails), so the service keeps no copy of a batch's photos.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import InterfaceError, OperationalError

from faces.images import ImageRejected
from gallery.models import Domain, GalleryTask, Person
from gallery.services import gallery_task_advance, gallery_task_create
from recognition import services
from recognition.serializers import BatchRowSerializer

logger = logging.getLogger(__name__)

NO_FACE = {"code": "no_face", "message": "no face was found in the photo"}
# Where uploaded photos wait for their task, under MEDIA_ROOT (never served without the admin's
# photo permission, facerec/media.py): batches/<domain id>/<random>/<n>.
BATCH_FOLDER = "batches"


@dataclass(frozen=True)
class BatchRow:
    """One face of a photo (``face``: 1 for the largest), or the photo's error."""

    file: str
    face: int | None = None
    result: services.FaceResult | None = None
    error: dict | None = None

    @property
    def box(self) -> dict | None:
        return self.result.face.box if self.result else None

    @property
    def person(self) -> Person | None:
        return self.result.match.person if self.result and self.result.match else None

    @property
    def distance(self) -> float | None:
        nearest = self.result.nearest if self.result else None
        return nearest.distance if nearest else None

    @property
    def confidence(self) -> float | None:
        nearest = self.result.nearest if self.result else None
        return nearest.confidence if nearest else None

    @property
    def unmatched_reason(self) -> str | None:
        return self.result.unmatched_reason if self.result else None

    @property
    def quality(self) -> dict | None:
        return self.result.quality if self.result else None


def photo_rows(*, domain: Domain, file: str, data: bytes) -> list[dict]:
    """The rows of one photo (``BatchRowSerializer``'s shape): one per face, largest first, or one
    row with the error when the photo has no face or is not a usable image. A missing model
    (``ModelUnavailable``) is raised: no photo of the domain can be recognized."""
    try:
        recognition = services.recognize(data, domain=domain)
    except ImageRejected as exc:
        rows = [BatchRow(file=file, error={"code": exc.code, "message": str(exc)})]
    else:
        rows = [BatchRow(file=file, face=index, result=result) for index, result in enumerate(recognition.faces, 1)]
        rows = rows or [BatchRow(file=file, error=NO_FACE)]
    return BatchRowSerializer(rows, many=True).data


def unreadable_row(*, file: str, error: OSError) -> dict:
    return BatchRowSerializer(
        BatchRow(file=file, error={"code": "unreadable", "message": f"cannot read: {error.strerror or error}"})
    ).data


# --- recognize_images: a folder ---------------------------------------------------------------


def files_recognize(domain_id: int, root: str, files: list[str]) -> list[tuple[str, list[dict]]]:
    """(file, its rows) for each of ``files`` (paths relative to ``root``): a job of
    ``recognize_images``, run by facerec.bulk here or in a worker process."""
    domain = Domain.objects.get(pk=domain_id)
    done = []
    for file in files:
        try:
            data = (Path(root) / file).read_bytes()
        except OSError as exc:
            done.append((file, [unreadable_row(file=file, error=exc)]))
            continue
        done.append((file, photo_rows(domain=domain, file=file, data=data)))
    return done


# --- recognize-batch: uploaded photos, a background task --------------------------------------


def _storage() -> FileSystemStorage:
    return FileSystemStorage()  # MEDIA_ROOT, read when first used


def recognize_batch_create(*, domain: Domain, files: list[tuple[bytes, str]]) -> GalleryTask:
    """Store uploaded photos (bytes, the client's file name) until their task has recognized them,
    and record the task (enqueued once the caller's transaction commits). Any file may be a bad
    image: it gets an error row, and the other photos are recognized. If recording fails, the
    files written are deleted again."""
    storage, folder, stored = _storage(), f"{BATCH_FOLDER}/{domain.id}/{uuid.uuid4().hex}", []
    try:
        for index, (data, name) in enumerate(files, 1):
            path = storage.save(f"{folder}/{index}", ContentFile(data))
            stored.append({"file": name or f"image {index}", "path": path})
        return gallery_task_create(
            kind=GalleryTask.Kind.RECOGNIZE_BATCH, domain=domain, params={"files": stored}, total=len(stored)
        )
    except BaseException:
        _files_delete([item["path"] for item in stored])
        raise


def recognize_batch_run(*, task: GalleryTask) -> dict:
    """The ``recognize_batch`` task's work: the photos in order, each one's rows recorded on the
    task (``result["rows"]``, with ``done`` counting photos) before the photo's file is deleted.
    A task run again after a killed worker goes on after the last photo recorded. When it fails
    for a reason other than the database (which Celery retries), every file goes."""
    files = task.params["files"]
    result = {"faces": 0, "errors": 0, "rows": [], **(task.result or {})}
    try:
        if task.domain is None:  # the domain was removed while the task waited
            raise ValueError("the domain was removed")
        for item in files[task.done:]:
            _photo_recognize(task, item, result)
    except (OperationalError, InterfaceError):
        raise  # the files stay for Celery's retry
    except BaseException:
        _files_delete([item["path"] for item in files])
        raise
    _files_delete([item["path"] for item in files])  # those a killed attempt recorded but left behind
    return result


def _photo_recognize(task: GalleryTask, item: dict, result: dict) -> None:
    storage = _storage()
    try:
        with storage.open(item["path"]) as handle:
            data = handle.read()
    except OSError as exc:
        rows = [unreadable_row(file=item["file"], error=exc)]
    else:
        rows = photo_rows(domain=task.domain, file=item["file"], data=data)
    result["rows"] += rows
    result["faces"] += sum(row["face"] is not None for row in rows)
    result["errors"] += sum(row["error"] is not None for row in rows)
    gallery_task_advance(task=task, by=1, result=result)
    _files_delete([item["path"]])


def _files_delete(paths: list[str]) -> None:
    storage = _storage()
    for path in paths:
        if storage.exists(path):
            storage.delete(path)
    for folder in {os.path.dirname(path) for path in paths}:
        try:
            os.rmdir(storage.path(folder))
        except OSError:
            pass  # already gone, or not empty
