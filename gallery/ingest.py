"""Bulk ingest of a folder of photos into a domain (``manage.py ingest_images``).

Layout: one folder per person (the folder name is the person's name), or loose files named
``Person Name_123.jpg`` directly in the root. ``name_style`` turns those names into person names
(``NAME_STYLES``): as they are (the default), underscores as spaces, or title case. Every photo is stored with its face in its own
transaction and identified by its content hash, so a run killed at any moment loses nothing and a
rerun skips what is done and duplicates nothing (the (domain, content hash) and (photo, model)
unique constraints make that hold even for two runs at once). Persons are created by the parent
process before the workers start, so parallel workers never create the same person twice.

``unlabeled`` (an archive): every photo under the folder, at any depth, whatever the folders are
called, is stored without a person, with every face in it unassigned (then clustered).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
_LOOSE_NAME = re.compile(r"^(?P<name>.+?)[_ -]+\d+$")
NAME_STYLES = {
    "as-is": "the folder name as it is: johnny_depp",
    "spaces": "underscores as spaces, runs of spaces as one: johnny_depp -> johnny depp",
    "title": "as spaces, each word (and each part of a hyphenated one) capitalised, the letters after the "
             "first kept as written: johnny_depp -> Johnny Depp, mary-kate_olsen -> Mary-Kate Olsen",
}


@dataclass(frozen=True)
class PhotoFile:
    person_name: str  # "" for an archive photo (--unlabeled): no person
    path: Path


@dataclass(frozen=True)
class IngestResult:
    path: str
    outcome: str  # "added", "queued" (--async), "no_face", "skipped" (already in the domain) or "failed"
    reason: str = ""


def person_name(raw: str, style: str = "as-is") -> str:
    """A folder (or loose file) name as a person's name in ``style`` (one of ``NAME_STYLES``)."""
    if style == "as-is":
        return raw.strip()
    words = raw.replace("_", " ").split()
    if style == "title":
        words = ["-".join(part[:1].upper() + part[1:] for part in word.split("-")) for word in words]
    return " ".join(words)


def discover(root: Path, *, name_style: str = "as-is", unlabeled: bool = False) -> Iterator[PhotoFile]:
    """Every photo under ``root`` with its person's name, in a stable order. Symlinks that lead
    outside ``root`` are ignored. Folders whose names give the same person name are one person.
    ``unlabeled``: every photo at any depth, without a person."""
    root = root.resolve()
    if unlabeled:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and _inside(path, root):
                yield PhotoFile(person_name="", path=path)
        return
    for entry in sorted(root.iterdir()):
        if not _inside(entry, root):
            continue
        if entry.is_dir():
            for path in sorted(entry.rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and _inside(path, root):
                    yield PhotoFile(person_name=person_name(entry.name, name_style), path=path)
        elif entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            match = _LOOSE_NAME.match(entry.stem)
            raw = (match["name"] if match else entry.stem).replace("_", " ")
            yield PhotoFile(person_name=person_name(raw, name_style), path=entry)


def archive_files(root: Path) -> Iterator[Path]:
    """Every photo (by its suffix, ``IMAGE_SUFFIXES``) anywhere under ``root``, in a stable order,
    whatever the folders mean. Symlinks that lead outside ``root`` are ignored."""
    root = root.resolve()
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and _inside(path, root):
            yield path


def _inside(path: Path, root: Path) -> bool:
    try:
        return os.path.realpath(path).startswith(str(root) + os.sep)
    except OSError:
        return False


def batches(photos: list[PhotoFile], size: int) -> Iterator[list[PhotoFile]]:
    for start in range(0, len(photos), size):
        yield photos[start : start + size]


def ingest_batch(domain_id: int, person_ids: dict[str, int], batch: list[PhotoFile], queue: bool) -> list[IngestResult]:
    """Add a batch of photos to the domain: embedded here, or (``queue``) stored as pending and
    handed to one Celery embed task. Photos already in the domain are skipped after one query for
    the whole batch. Each photo commits on its own, so a kill loses at most the photo in flight."""
    from gallery.models import FacePhoto

    contents, results = [], []
    for photo in batch:
        try:
            contents.append((photo, photo.path.read_bytes()))
        except OSError as exc:
            results.append(IngestResult(str(photo.path), "failed", f"cannot read: {exc.strerror or exc}"))
    hashes: dict[str, tuple[PhotoFile, bytes]] = {}
    for photo, data in contents:
        content_hash = FacePhoto.hash_bytes(data)
        if content_hash in hashes:  # the same picture twice in one batch
            results.append(IngestResult(str(photo.path), "skipped"))
        else:
            hashes[content_hash] = (photo, data)
    known = dict(FacePhoto.objects.filter(domain_id=domain_id, content_hash__in=hashes).values_list("content_hash", "id"))
    known_pending = set(
        FacePhoto.objects.filter(id__in=known.values(), status=FacePhoto.Status.PENDING).values_list("id", flat=True)
    )
    queued = []
    for content_hash, (photo, data) in hashes.items():
        if content_hash in known and known[content_hash] not in known_pending:
            results.append(IngestResult(str(photo.path), "skipped"))
            continue
        person_id = person_ids[photo.person_name] if photo.person_name else None
        result, photo_id = _ingest_new(photo, data, domain_id, person_id, queue, known.get(content_hash))
        results.append(result)
        if photo_id is not None:
            queued.append(photo_id)
    if queued:
        from gallery.models import Domain
        from gallery.services import photos_embed_enqueue

        photos_embed_enqueue(domain=Domain.objects.get(pk=domain_id), photo_ids=queued)
    return results


def _ingest_new(
    photo: PhotoFile, data: bytes, domain_id: int, person_id: int | None, queue: bool, pending_id: int | None
) -> tuple[IngestResult, int | None]:
    """One photo not yet done: (result, id of a photo to queue for embedding). ``person_id`` None:
    an archive photo."""
    from faces.images import ImageRejected
    from gallery.models import Domain, FacePhoto, Person
    from gallery.services import photo_add, photo_embed, photo_store_pending

    path = str(photo.path)
    try:
        if pending_id is not None:  # stored by an earlier run, not embedded yet
            if queue:
                return IngestResult(path, "queued"), pending_id
            outcome = photo_embed(photo_id=pending_id)
            return IngestResult(path, "no_face" if outcome == "no_face" else "added"), None
        person = Person.objects.select_related("domain").get(pk=person_id) if person_id else None
        domain = None if person else Domain.objects.get(pk=domain_id)
        if queue:
            stored, created = photo_store_pending(person=person, domain=domain, data=data, source_name=path)
            return (IngestResult(path, "queued"), stored.id) if created else (IngestResult(path, "skipped"), None)
        outcome = photo_add(person=person, domain=domain, data=data, source_name=path)
    except ImageRejected as exc:
        return IngestResult(path, "failed", str(exc)), None
    if not outcome.created:
        return IngestResult(path, "skipped"), None
    if outcome.photo.status == FacePhoto.Status.NO_FACE:
        return IngestResult(path, "no_face", "no face detected"), None
    return IngestResult(path, "added"), None


def ingest_one(domain_id: int, photo: PhotoFile) -> IngestResult:
    """Add one photo to the domain (its person created if needed). Safe to rerun."""
    from gallery.models import Domain
    from gallery.services import person_get_or_create

    person, _ = person_get_or_create(domain=Domain.objects.get(pk=domain_id), name=photo.person_name)
    return ingest_batch(domain_id, {photo.person_name: person.id}, [photo], queue=False)[0]

