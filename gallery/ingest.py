"""Bulk ingest of a folder of photos into a domain (``manage.py ingest_images``).

Layout: one folder per person (the folder name is the person's name), or loose files named
``Person Name_123.jpg`` directly in the root. Every photo is stored with its face in its own
transaction and identified by its content hash, so a run killed at any moment loses nothing and a
rerun skips what is done and duplicates nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
_LOOSE_NAME = re.compile(r"^(?P<name>.+?)[_ -]+\d+$")


@dataclass(frozen=True)
class PhotoFile:
    person_name: str
    path: Path


@dataclass(frozen=True)
class IngestResult:
    path: str
    outcome: str  # "added", "no_face", "skipped" (already in the domain) or "failed"
    reason: str = ""


def discover(root: Path) -> Iterator[PhotoFile]:
    """Every photo under ``root`` with its person's name, in a stable order. Symlinks that lead
    outside ``root`` are ignored."""
    root = root.resolve()
    for entry in sorted(root.iterdir()):
        if not _inside(entry, root):
            continue
        if entry.is_dir():
            for path in sorted(entry.rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and _inside(path, root):
                    yield PhotoFile(person_name=entry.name.strip(), path=path)
        elif entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            match = _LOOSE_NAME.match(entry.stem)
            yield PhotoFile(person_name=(match["name"] if match else entry.stem).replace("_", " ").strip(), path=entry)


def _inside(path: Path, root: Path) -> bool:
    try:
        return os.path.realpath(path).startswith(str(root) + os.sep)
    except OSError:
        return False


def ingest_one(domain_id: int, photo: PhotoFile) -> IngestResult:
    """Add one photo to the domain. Safe to run in several processes at once and to rerun."""
    from gallery.models import Domain, FacePhoto
    from gallery.services import person_get_or_create, photo_add
    from recognition.images import ImageRejected

    try:
        data = photo.path.read_bytes()
        domain = Domain.objects.get(pk=domain_id)
        if FacePhoto.objects.filter(domain=domain, content_hash=FacePhoto.hash_bytes(data)).exists():
            return IngestResult(str(photo.path), "skipped")
        person, _ = person_get_or_create(domain=domain, name=photo.person_name)
        outcome = photo_add(person=person, data=data, source_name=str(photo.path))
    except ImageRejected as exc:
        return IngestResult(str(photo.path), "failed", str(exc))
    except OSError as exc:
        return IngestResult(str(photo.path), "failed", f"cannot read: {exc.strerror or exc}")
    if not outcome.created:
        return IngestResult(str(photo.path), "skipped")
    if outcome.photo.status == FacePhoto.Status.NO_FACE:
        return IngestResult(str(photo.path), "no_face", "no face detected")
    return IngestResult(str(photo.path), "added")


# --- worker processes -------------------------------------------------------------------------

_worker_domain_id: int | None = None


def worker_init(domain_id: int) -> None:
    global _worker_domain_id
    import django
    from django.db import connections

    django.setup()
    connections.close_all()  # never share the parent's sockets
    _worker_domain_id = domain_id


def worker_ingest(photo: PhotoFile) -> IngestResult:
    return ingest_one(_worker_domain_id, photo)
