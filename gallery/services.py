"""Gallery services: the only code that writes domains, persons, photos, faces and API keys."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from gallery.models import ApiKey, Domain, FaceEmbedding, FacePhoto, Person
from recognition.models_zoo import check_available

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


@transaction.atomic
def person_remove(*, person: Person) -> None:
    """Delete a person with its photos and faces. The very next search no longer sees them; the
    image files are deleted once the deletion has committed."""
    names = list(person.photos.values_list("image", flat=True))
    person.delete()
    transaction.on_commit(lambda: _files_delete(names))


@transaction.atomic
def photo_remove(*, photo: FacePhoto) -> None:
    name = photo.image.name
    photo.delete()
    transaction.on_commit(lambda: _files_delete([name]))


def _files_delete(names: list[str]) -> None:
    storage = FacePhoto._meta.get_field("image").storage
    for name in names:
        if name:
            storage.delete(name)


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
    from recognition.services import detect_faces

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
                file_name=f"{content_hash}.{image.extension}",
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
    *, person: Person, data: bytes, file_name: str, content_hash: str, source_name: str, status: str
) -> FacePhoto:
    photo = FacePhoto(
        domain_id=person.domain_id,
        person=person,
        content_hash=content_hash,
        source_name=source_name[:500],
        status=status,
    )
    photo.image.save(file_name, ContentFile(data), save=False)
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

