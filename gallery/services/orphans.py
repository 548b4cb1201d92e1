"""Orphans: photo files in MEDIA_ROOT that no photo row names, and photo rows whose file is gone.

Neither should exist (erasure deletes a removed photo's file by a task once the delete commits),
but a crash, a restore of the database without its files (or the reverse), or a hand edit can
leave them. ``manage.py gallery_stats`` counts them; ``--remove-orphans`` repairs them:

- a file without a row is deleted (through ``files_delete``, which re-checks the rows at that
  moment), unless it is younger than the grace period: a photo is written before its row commits,
  so a young file may be an upload still in flight;
- a row without its file is never deleted (that would silently drop a person's data, and its face
  vector still answers searches): its photo is marked ``failed`` with a reason naming the missing
  file, so the admin's status filter and the stats show it, a model switch does not try to
  re-embed it, and an operator can upload the picture again or remove the photo.

Photos that never had a file (imported from a DeepFace pickle, which holds vectors only) are not
orphans.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from gallery.models import Domain, FacePhoto
from gallery.services.audit import audit_record
from gallery.services.erasure import files_delete

# Stored photos live under this folder of MEDIA_ROOT (gallery.models.photo_upload_to).
PHOTOS_FOLDER = "faces"
# Younger orphan files are left alone: they may belong to an upload whose row has not committed yet.
ORPHAN_GRACE_S = 3600
MISSING_FILE_REASON = "stored file missing: {name}"


@dataclass
class Orphans:
    files: list[str] = field(default_factory=list)  # files without a row, older than the grace period
    recent_files: list[str] = field(default_factory=list)  # files without a row, still within it
    photo_ids: list[int] = field(default_factory=list)  # rows whose stored file is missing


def _storage():
    return FacePhoto._meta.get_field("image").storage


def _files_on_disk(folder: str) -> dict[str, float]:
    """Every file under ``folder`` of MEDIA_ROOT, by storage name, with its modification time."""
    root = Path(_storage().location)
    found = {}
    for directory, _, names in os.walk(root / folder):
        for name in names:
            path = Path(directory) / name
            found[path.relative_to(root).as_posix()] = path.stat().st_mtime
    return found


def orphans_find(*, domain: Domain | None = None, grace_s: float = ORPHAN_GRACE_S) -> Orphans:
    """The orphans of one domain (its folder and its rows), or of the whole MEDIA_ROOT."""
    folder = f"{PHOTOS_FOLDER}/{domain.id}" if domain else PHOTOS_FOLDER
    on_disk = _files_on_disk(folder)
    rows = FacePhoto.objects.exclude(image="")
    if domain:
        rows = rows.filter(domain=domain)
    named = dict(rows.values_list("image", "id").iterator())
    orphans = Orphans(photo_ids=sorted(photo_id for name, photo_id in named.items() if name not in on_disk))
    young = time.time() - grace_s
    for name, mtime in sorted(on_disk.items()):
        if name not in named:
            (orphans.files if mtime < young else orphans.recent_files).append(name)
    return orphans


@transaction.atomic
def orphans_remove(*, orphans: Orphans) -> tuple[int, int]:
    """Delete the orphan files and mark the photos without a file failed; returns both counts."""
    deleted = files_delete(names=orphans.files)
    marked = 0
    for photo in FacePhoto.objects.select_for_update().filter(pk__in=orphans.photo_ids).exclude(image=""):
        reason = MISSING_FILE_REASON.format(name=photo.image.name)
        if _storage().exists(photo.image.name) or (photo.status, photo.reason) == (FacePhoto.Status.FAILED, reason):
            continue  # the file is back (uploaded again meanwhile), or marked by an earlier run
        photo.status, photo.reason = FacePhoto.Status.FAILED, reason
        photo.save(update_fields=["status", "reason"])
        audit_record(action="photo.file_missing", obj=photo, domain=photo.domain, details={"status": photo.status})
        marked += 1
    if deleted:
        # Files no row names belong to no domain any more: counted, not named.
        audit_record(action="orphans.remove", obj=None, details={"files_deleted": deleted})
    return deleted, marked
