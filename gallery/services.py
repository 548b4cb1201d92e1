"""Gallery services: the only code that writes domains, persons, photos, faces and API keys."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from faces.models_zoo import check_available
from gallery.models import ApiKey, Domain, FaceEmbedding, FacePhoto, GalleryTask, Person

if TYPE_CHECKING:
    from faces.images import DecodedImage

logger = logging.getLogger(__name__)


# --- Domains ----------------------------------------------------------------------------------


@transaction.atomic
def domain_create(*, slug: str, name: str = "", model_name: str | None = None, detector: str | None = None) -> Domain:
    from django.conf import settings

    model_name = model_name or settings.FACEREC_DEFAULT_MODEL
    detector = detector or settings.FACEREC_DEFAULT_DETECTOR
    check_available(model_name, detector)
    # The domain's vector index is created by the post_save signal (gallery.signals).
    return Domain.objects.create(slug=slug, name=name or slug, model_name=model_name, detector=detector)


def domain_get_or_create(*, slug: str) -> tuple[Domain, bool]:
    domain = Domain.objects.filter(slug=slug).first()
    if domain is not None:
        return domain, False
    try:
        return domain_create(slug=slug), True
    except IntegrityError:  # created by a concurrent process meanwhile
        return Domain.objects.get(slug=slug), False


# --- Persons ----------------------------------------------------------------------------------


def person_get_or_create(*, domain: Domain, name: str, external_id: str | None = None) -> tuple[Person, bool]:
    """The person of ``domain`` with this ``external_id`` (or, without one, this name), created
    if missing. Safe under concurrency: the database's unique constraints decide."""
    lookup = {"external_id": external_id} if external_id else {"name": name, "external_id": None}
    person = Person.objects.filter(domain=domain, **lookup).order_by("id").first()
    if person is not None:
        return person, False
    try:
        with transaction.atomic():
            return Person.objects.create(domain=domain, name=name, external_id=external_id), True
    except IntegrityError:
        return Person.objects.get(domain=domain, **lookup), False


class ExternalIdTaken(Exception):
    """Another person of the domain already has this external id."""


def person_create(
    *, domain: Domain, name: str, external_id: str | None = None, active: bool = True
) -> tuple[Person, bool]:
    """Create a person. Idempotent sync: when ``external_id`` is already used in the domain, that
    person is returned unchanged (``created`` False). Without an external id a new person is
    always created (two people may share a name)."""
    if external_id:
        existing = Person.objects.filter(domain=domain, external_id=external_id).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            person = Person.objects.create(domain=domain, name=name, external_id=external_id or None, active=active)
    except IntegrityError:  # the same external id was created concurrently
        return Person.objects.get(domain=domain, external_id=external_id), False
    return person, True


def person_update(
    *, person: Person, name: str | None = None, external_id: str | None = "", active: bool | None = None
) -> Person:
    """Change a person's fields; ``external_id=""`` leaves it, ``None`` clears it."""
    if name is not None:
        person.name = name
    if external_id != "":
        person.external_id = external_id or None
    if active is not None:
        person.active = active
    try:
        with transaction.atomic():
            person.save()
    except IntegrityError:
        raise ExternalIdTaken(f"external_id {person.external_id!r} is already used in this domain") from None
    return person


@transaction.atomic
def person_merge(*, source: Person, target: Person) -> Person:
    """Move every photo and face of ``source`` to ``target`` and delete ``source``, in one
    transaction: a search sees either two persons or one, never a half-moved gallery."""
    if source.pk == target.pk:
        raise ValueError("a person cannot be merged into itself")
    if source.domain_id != target.domain_id:
        raise ValueError("persons of different domains cannot be merged")
    source, target = (Person.objects.select_for_update().get(pk=pk) for pk in (source.pk, target.pk))
    photos_move(photos=FacePhoto.objects.filter(person=source), person=target)
    external_id = source.external_id
    persons_remove(persons=Person.objects.filter(pk=source.pk))  # nothing left of it but the row
    if external_id and not target.external_id:
        target.external_id = external_id
        target.save(update_fields=["external_id", "updated"])
    return target


@transaction.atomic
def photos_move(*, photos: QuerySet[FacePhoto], person: Person) -> int:
    """Give these photos, and so their faces, to ``person``. A photo of another domain than the
    person's raises ValueError and nothing moves (the database would refuse it too)."""
    if photos.exclude(domain_id=person.domain_id).exists():
        raise ValueError("a photo cannot move to a person of another domain")
    # The faces follow: the database cascades a photo's person to its faces (migration 0003).
    return photos.update(person=person)


# --- Removal -----------------------------------------------------------------------------------
# Every delete comes through here, whichever door it starts from (the API, the admin's change page,
# its bulk action or photo inline, a merge, a domain's removal), and erases the same things: rows
# and vectors in the caller's transaction, so the very next search no longer sees them, and the
# photo files by a recorded task once that has committed.


def person_remove(*, person: Person) -> GalleryTask | None:
    """Delete a person with its photos and faces; the files go by a task after commit."""
    tasks = persons_remove(persons=Person.objects.filter(pk=person.pk))
    return tasks[0] if tasks else None


@transaction.atomic
def persons_remove(*, persons: QuerySet[Person]) -> list[GalleryTask]:
    # Locked first: a photo being added to one of them waits (its person key is checked at once),
    # so no file is written for a person whose files are being listed for deletion.
    ids = list(persons.values_list("pk", flat=True))
    ids = list(Person.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
    stored = _stored_files(FacePhoto.objects.filter(person_id__in=ids))
    Person.objects.filter(pk__in=ids).delete()
    return _files_delete_enqueue(stored)


def photo_remove(*, photo: FacePhoto) -> GalleryTask | None:
    tasks = photos_remove(photos=FacePhoto.objects.filter(pk=photo.pk))
    return tasks[0] if tasks else None


@transaction.atomic
def photos_remove(*, photos: QuerySet[FacePhoto]) -> list[GalleryTask]:
    ids = list(photos.values_list("pk", flat=True))
    stored = _stored_files(FacePhoto.objects.filter(pk__in=ids))
    FacePhoto.objects.filter(pk__in=ids).delete()
    return _files_delete_enqueue(stored)


@transaction.atomic
def domain_remove(*, domain: Domain) -> GalleryTask | None:
    """Delete a domain with everything in it: persons, photos, faces, its vector indexes (dropped
    by gallery.signals), its keys' access to it, and its files (by a task after commit, recorded
    without a domain since the domain is gone). Its task records stay, without a domain: a file
    deletion still queued must run."""
    domain = Domain.objects.select_for_update().get(pk=domain.pk)
    names = [name for names in _stored_files(domain.photos.all()).values() for name in names]
    domain.delete()
    return files_delete_enqueue(domain=None, names=names)


def _stored_files(photos: QuerySet[FacePhoto]) -> dict[int, list[str]]:
    """The stored file names of ``photos``, by domain id."""
    by_domain: dict[int, list[str]] = {}
    for domain_id, name in photos.exclude(image="").values_list("domain_id", "image"):
        by_domain.setdefault(domain_id, []).append(name)
    return by_domain


def _files_delete_enqueue(stored: dict[int, list[str]]) -> list[GalleryTask]:
    domains = Domain.objects.in_bulk(list(stored))
    return [files_delete_enqueue(domain=domains[domain_id], names=names) for domain_id, names in stored.items()]


def files_delete_enqueue(*, domain: Domain | None, names: list[str]) -> GalleryTask | None:
    if not names:
        return None
    return gallery_task_create(kind=GalleryTask.Kind.DELETE_FILES, domain=domain, params={"names": names})


def files_delete(*, names: list[str]) -> int:
    """Delete stored photo files no photo refers to any more. A file whose picture was uploaded
    again after the removal (same content, so same name) is in use again and is kept."""
    storage = FacePhoto._meta.get_field("image").storage
    in_use = set(FacePhoto.objects.filter(image__in=names).values_list("image", flat=True))
    deleted = 0
    for name in names:
        if name and name not in in_use and storage.exists(name):
            storage.delete(name)
            deleted += 1
    return deleted


# --- Photos and faces -------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoOutcome:
    photo: FacePhoto
    created: bool  # False: the same picture was already in the domain (nothing was written)


def photo_add(*, person: Person, data: bytes, source_name: str = "") -> PhotoOutcome:
    """Store a photo of ``person`` and its largest face's embedding, in one transaction.

    A picture already in the domain (same content hash) is not stored again. Bytes that are not a
    usable image raise ImageRejected and write nothing. A photo without a face is kept with status
    ``no_face`` so that a rerun of an ingest does not try it again.
    """
    from faces.pipeline import detect_faces

    domain = person.domain
    content_hash = FacePhoto.hash_bytes(data)
    existing = FacePhoto.objects.filter(domain=domain, content_hash=content_hash).first()
    if existing is not None:
        return PhotoOutcome(photo=existing, created=False)
    image, faces = detect_faces(data, model_name=domain.model_name, detector=domain.detector)
    try:
        with transaction.atomic():
            photo = _photo_store(
                person=person,
                data=data,
                decoded=image,
                content_hash=content_hash,
                source_name=source_name,
                status=FacePhoto.Status.EMBEDDED if faces else FacePhoto.Status.NO_FACE,
            )
            if faces:
                face_store(photo=photo, face=faces[0], model_name=domain.model_name)
    except IntegrityError:
        # Another process stored the same picture meanwhile.
        return PhotoOutcome(photo=FacePhoto.objects.get(domain=domain, content_hash=content_hash), created=False)
    return PhotoOutcome(photo=photo, created=True)


def _photo_store(
    *, person: Person, data: bytes, decoded: DecodedImage, content_hash: str, source_name: str, status: str
) -> FacePhoto:
    """Write the photo file (named by content hash and format) and its row."""
    width, height = decoded.original_size
    photo = FacePhoto(
        domain_id=person.domain_id,
        person=person,
        content_hash=content_hash,
        source_name=source_name[:500],
        status=status,
        width=width,
        height=height,
    )
    photo.image.save(f"{content_hash}.{decoded.extension}", ContentFile(data), save=False)
    photo.save()
    return photo


def face_store(*, photo: FacePhoto, face, model_name: str) -> FaceEmbedding:
    return FaceEmbedding.objects.create(
        photo=photo,
        person_id=photo.person_id,
        domain_id=photo.domain_id,
        model_name=model_name,
        embedding=face.embedding,
        box_x=face.box["x"],
        box_y=face.box["y"],
        box_w=face.box["w"],
        box_h=face.box["h"],
        detection_confidence=face.confidence,
    )


# --- Uploads and embedding (run by tasks) -------------------------------------------------------


@dataclass(frozen=True)
class UploadedPhoto:
    photo: FacePhoto
    created: bool  # False: the same picture was already in the domain
    task: GalleryTask | None  # the embedding task of a new photo


@transaction.atomic
def photos_upload(*, person: Person, files: list[tuple[bytes, str]]) -> list[UploadedPhoto]:
    """Store photos of ``person`` as ``pending`` with one embedding task each, enqueued once this
    commits. Every file is decoded before anything is written, so a file that is not a usable image
    raises ImageRejected and nothing at all is stored."""
    from faces.images import decode_image

    decoded = [decode_image(data) for data, _ in files]
    uploaded = []
    for (data, name), image in zip(files, decoded, strict=True):
        photo, created = photo_store_pending(person=person, data=data, source_name=name, decoded=image)
        task = None
        if created:
            task = gallery_task_create(
                kind=GalleryTask.Kind.EMBED_PHOTO, domain=person.domain, params={"photo_ids": [photo.id]}, total=1
            )
        uploaded.append(UploadedPhoto(photo=photo, created=created, task=task))
    return uploaded


def photo_store_pending(
    *, person: Person, data: bytes, source_name: str = "", decoded=None
) -> tuple[FacePhoto, bool]:
    """Store the photo file and a ``pending`` row (no face yet); an existing picture is returned.
    Raises ImageRejected for bytes that are not a usable image (``decoded``: already decoded)."""
    from faces.images import decode_image

    content_hash = FacePhoto.hash_bytes(data)
    existing = FacePhoto.objects.filter(domain_id=person.domain_id, content_hash=content_hash).first()
    if existing is not None:
        return existing, False
    decoded = decoded or decode_image(data)
    try:
        with transaction.atomic():
            photo = _photo_store(
                person=person,
                data=data,
                decoded=decoded,
                content_hash=content_hash,
                source_name=source_name,
                status=FacePhoto.Status.PENDING,
            )
    except IntegrityError:
        return FacePhoto.objects.get(domain_id=person.domain_id, content_hash=content_hash), False
    return photo, True


def photos_embed_enqueue(*, domain: Domain, photo_ids: list[int], replace: bool = False) -> GalleryTask:
    """One background task embedding these photos (``replace``: again, replacing their faces)."""
    return gallery_task_create(
        kind=GalleryTask.Kind.EMBED_BATCH,
        domain=domain,
        params={"photo_ids": list(photo_ids), "replace": replace},
        total=len(photo_ids),
    )


def photo_embed(*, photo_id: int, replace: bool = False) -> str:
    """Detect and embed a stored photo with its domain's serving model, and with the pending model
    too while a model switch runs. Idempotent: a photo already done is skipped unless ``replace``.
    Returns the serving model's outcome: embedded, no_face, failed, skipped or gone."""
    photo = FacePhoto.objects.select_related("domain").filter(pk=photo_id).first()
    if photo is None:
        return "gone"
    domain = photo.domain
    targets = {domain.model_name: domain.detector}
    if domain.pending_model:
        targets[domain.pending_model] = domain.pending_detector  # same model: the new detector wins
    outcome = "skipped"
    for model_name, detector in targets.items():
        result = photo_embed_with(photo=photo, model_name=model_name, detector=detector, replace=replace)
        if model_name == domain.model_name:
            outcome = result
    return outcome


def photo_embed_with(*, photo: FacePhoto, model_name: str, detector: str, replace: bool = False) -> str:
    """Embed ``photo`` with one model. The face row and (for the serving model) the photo's status
    commit together under a lock on the photo row, so concurrent or redelivered runs store one face."""
    from faces.images import ImageRejected
    from faces.pipeline import detect_faces

    if not replace and _photo_done(photo, model_name):
        return "skipped"
    try:
        with photo.image.open("rb") as handle:
            data = handle.read()
        _, faces = detect_faces(data, model_name=model_name, detector=detector)
    except (ImageRejected, OSError) as exc:
        reason = str(exc) if isinstance(exc, ImageRejected) else f"cannot read the stored file: {exc}"
        if model_name == photo.domain.model_name:
            photo.status, photo.reason = FacePhoto.Status.FAILED, reason
            photo.save(update_fields=["status", "reason"])  # save(), not update(): the ingest metrics count it
        return "failed"
    return _faces_commit(photo=photo, model_name=model_name, faces=faces, replace=replace)


def _photo_done(photo: FacePhoto, model_name: str) -> bool:
    if FaceEmbedding.objects.filter(photo_id=photo.pk, model_name=model_name).exists():
        return True
    return model_name == photo.domain.model_name and photo.status != FacePhoto.Status.PENDING


@transaction.atomic
def _faces_commit(*, photo: FacePhoto, model_name: str, faces: list, replace: bool) -> str:
    locked = FacePhoto.objects.select_for_update().filter(pk=photo.pk).first()
    if locked is None:
        return "gone"  # removed while it was being embedded
    serving, pending = Domain.objects.values_list("model_name", "pending_model").get(pk=locked.domain_id)
    if model_name not in (serving, pending):
        return "skipped"  # the domain switched models meanwhile
    existing = FaceEmbedding.objects.filter(photo=locked, model_name=model_name)
    if replace:
        existing.delete()
    elif existing.exists():
        return "skipped"
    if faces:
        face_store(photo=locked, face=faces[0], model_name=model_name)
    if model_name == serving:
        locked.status = FacePhoto.Status.EMBEDDED if faces else FacePhoto.Status.NO_FACE
        locked.reason = "" if faces else "no face detected"
        locked.save(update_fields=["status", "reason"])
    return "embedded" if faces else "no_face"


# --- Model switching ---------------------------------------------------------------------------

REEMBED_BATCH = 32


def domain_model_switch(*, domain: Domain, model_name: str, detector: str) -> GalleryTask | None:
    """Start serving ``domain`` with another model/detector, without downtime.

    The photos are re-embedded in the background (a ``reembed_domain`` task) into rows of the new
    model, side by side with the old ones; recognize keeps searching the old model's vectors until
    every photo is done, then ``domain_model_flip`` switches in one transaction. Changing only the
    detector of the same model re-embeds in place, photo by photo: the vectors stay in one model's
    space, so answers are never mixed-model. Raises ModelUnavailable (nothing changed) when the
    weights are missing. Returns the task, or None when there is nothing to do."""
    check_available(model_name, detector)
    domain_index_ensure(domain_id=domain.pk, model_name=model_name)
    with transaction.atomic():
        domain = Domain.objects.select_for_update().get(pk=domain.pk)
        abandoned = domain.pending_model
        if abandoned and abandoned not in (domain.model_name, model_name):
            FaceEmbedding.objects.filter(domain=domain, model_name=abandoned).delete()
        if (model_name, detector) == (domain.model_name, domain.detector):
            Domain.objects.filter(pk=domain.pk).update(pending_model="", pending_detector="")
            return None
        Domain.objects.filter(pk=domain.pk).update(pending_model=model_name, pending_detector=detector)
        return gallery_task_create(
            kind=GalleryTask.Kind.REEMBED_DOMAIN,
            domain=domain,
            params={"model_name": model_name, "detector": detector},
            total=domain.photos.count(),
        )


def domain_reembed(*, task: GalleryTask) -> dict:
    """Embed every photo of the task's domain with the pending model, then flip. Progress is a
    cursor (the last photo id done) kept on the task, so a redelivered task resumes there."""
    model_name, detector = task.params["model_name"], task.params["detector"]
    cursor = int(task.result.get("cursor", 0))
    in_place = None
    while True:
        domain = Domain.objects.get(pk=task.domain_id)
        if (domain.pending_model, domain.pending_detector) != (model_name, detector):
            return {"cursor": cursor, "cancelled": True}
        in_place = model_name == domain.model_name
        photos = list(
            domain.photos.select_related("domain")
            .filter(id__gt=cursor)
            .exclude(status=FacePhoto.Status.FAILED)[:REEMBED_BATCH]
        )
        if not photos:
            break
        for photo in photos:
            photo_embed_with(photo=photo, model_name=model_name, detector=detector, replace=in_place)
        cursor = photos[-1].id
        GalleryTask.objects.filter(pk=task.pk).update(done=F("done") + len(photos), result={"cursor": cursor})
    flipped = domain_model_flip(domain_id=task.domain_id, model_name=model_name, detector=detector)
    return {"cursor": cursor, "flipped": flipped}


@transaction.atomic
def domain_model_flip(*, domain_id: int, model_name: str, detector: str) -> bool:
    """Make the pending model the serving one, in one step: statuses follow the new model's faces,
    the old model's vectors go, and the domain's threshold returns to the new model's default."""
    domain = Domain.objects.select_for_update().get(pk=domain_id)
    if (domain.pending_model, domain.pending_detector) != (model_name, detector):
        return False
    old_model = domain.model_name
    if old_model != model_name:
        photos = FacePhoto.objects.filter(domain=domain).exclude(status=FacePhoto.Status.PENDING)
        with_face = FaceEmbedding.objects.filter(domain=domain, model_name=model_name).values("photo_id")
        photos.filter(id__in=with_face).update(status=FacePhoto.Status.EMBEDDED, reason="")
        photos.filter(status=FacePhoto.Status.EMBEDDED).exclude(id__in=with_face).update(
            status=FacePhoto.Status.NO_FACE, reason="no face detected"
        )
        FaceEmbedding.objects.filter(domain=domain, model_name=old_model).delete()
        domain.threshold = None
    # update(), not save(): the new model's index exists since the switch began, and the post_save
    # signal's CREATE INDEX would fail in this transaction (it has deleted face rows).
    Domain.objects.filter(pk=domain.pk).update(
        model_name=model_name, detector=detector, pending_model="", pending_detector="", threshold=domain.threshold
    )
    return True


def domain_index_ensure(*, domain_id: int, model_name: str) -> None:
    """Create the (domain, model) vector index if it is missing, also inside a transaction."""
    from gallery.indexes import vector_index_ensure

    if connection.in_atomic_block:
        # PostgreSQL refuses CREATE INDEX on a table with pending deferred FK checks in the same
        # transaction (Django's foreign keys are DEFERRABLE INITIALLY DEFERRED): run them now.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    vector_index_ensure(domain_id=domain_id, model_name=model_name)


# --- Background tasks --------------------------------------------------------------------------


def gallery_task_create(*, kind: str, domain: Domain | None, params: dict, total: int = 0) -> GalleryTask:
    """Record a task and hand it to Celery once the current transaction commits."""
    task = GalleryTask.objects.create(kind=kind, domain=domain, params=params, total=total)
    transaction.on_commit(lambda: gallery_task_dispatch(task=task))
    return task


def gallery_task_dispatch(*, task: GalleryTask) -> None:
    from gallery import tasks

    tasks.dispatch(task_id=task.pk, kind=task.kind)


def gallery_task_run(*, task_id) -> GalleryTask | None:
    """Run a recorded task. A task already done or failed is not run again (a redelivered message
    is a no-op); one left ``running`` by a killed worker is run again, which its work allows."""
    claimed = GalleryTask.objects.filter(
        pk=task_id, status__in=[GalleryTask.Status.QUEUED, GalleryTask.Status.RUNNING]
    ).update(status=GalleryTask.Status.RUNNING, attempts=F("attempts") + 1, started=timezone.now())
    if not claimed:
        return None
    task = GalleryTask.objects.get(pk=task_id)
    try:
        result = _TASK_HANDLERS[task.kind](task)
    except (OperationalError, InterfaceError):
        raise  # the database is unavailable: the task stays running and Celery retries it
    except Exception as exc:
        logger.exception("task %s (%s) failed", task.pk, task.kind)
        _task_finish(task, status=GalleryTask.Status.FAILED, error=f"{exc.__class__.__name__}: {exc}")
        raise
    _task_finish(task, status=GalleryTask.Status.DONE, result=result)
    task.refresh_from_db()
    return task


def _task_finish(task: GalleryTask, *, status: str, result: dict | None = None, error: str = "") -> None:
    update = {"status": status, "error": error, "finished": timezone.now()}
    if result is not None:
        update["result"] = result
    GalleryTask.objects.filter(pk=task.pk).update(**update)


def _run_embed(task: GalleryTask) -> dict:
    counts: dict[str, int] = {}
    for photo_id in task.params["photo_ids"]:
        outcome = photo_embed(photo_id=photo_id, replace=task.params.get("replace", False))
        counts[outcome] = counts.get(outcome, 0) + 1
        GalleryTask.objects.filter(pk=task.pk).update(done=F("done") + 1)
    return counts


def _run_files_delete(task: GalleryTask) -> dict:
    return {"deleted": files_delete(names=task.params["names"])}


_TASK_HANDLERS = {
    GalleryTask.Kind.EMBED_PHOTO: _run_embed,
    GalleryTask.Kind.EMBED_BATCH: _run_embed,
    GalleryTask.Kind.REEMBED_DOMAIN: lambda task: domain_reembed(task=task),
    GalleryTask.Kind.DELETE_FILES: _run_files_delete,
}


# --- API keys ---------------------------------------------------------------------------------


@transaction.atomic
def api_key_create(*, name: str, domains: list[Domain], can_write: bool = False) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is not stored and cannot be shown again."""
    secret = "frk_" + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name, prefix=secret[:12], key_hash=ApiKey.hash_key(secret), can_write=can_write
    )
    key.domains.set(domains)
    return key, secret



def api_key_issue(*, key: ApiKey) -> str:
    """Give ``key`` a new secret (saving it) and return the secret, which is not stored."""
    secret = "frk_" + secrets.token_urlsafe(32)
    key.prefix, key.key_hash = secret[:12], ApiKey.hash_key(secret)
    key.save()
    return secret
