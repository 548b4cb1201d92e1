"""Photos and their faces: storing a photo (file named by its content hash, row, its faces),
whether its faces are found here, later by a task, or come with it (a migrated PKL gallery), and
giving photos to another person of their domain.

A person's photo keeps its largest face, the person's. An archive photo (``person`` None, stored
in a ``domain``) keeps every face, unassigned: each is later given to a person on its own
(gallery.services.clusters), so a group photo's faces can go to different persons. Both kinds go
through the same functions: same decoding, limits, de-duplication and embedding tasks."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from faces.images import DecodedImage, decode_image
from faces.pipeline import Face, detect_faces
from gallery.models import Domain, FaceEmbedding, FacePhoto, GalleryTask, Person
from gallery.services.audit import audit_record
from gallery.services.task_records import gallery_task_create


def photo_domain(*, person: Person | None, domain: Domain | None) -> Domain:
    """The domain a photo goes to: its person's, or for an archive photo (no person) ``domain``."""
    if person is not None:
        if domain is not None and domain.pk != person.domain_id:
            raise ValueError("a person's photo goes to the person's domain")
        return person.domain
    if domain is None:
        raise ValueError("a photo without a person needs a domain")
    return domain


def faces_kept(*, photo: FacePhoto, faces: list[Face]) -> list[Face]:
    """The faces a photo keeps: its largest for a person's photo, every face for an archive photo."""
    return faces if photo.person_id is None else faces[:1]


@dataclass(frozen=True)
class PhotoOutcome:
    photo: FacePhoto
    created: bool  # False: the same picture was already in the domain (nothing was written)


def photo_add(
    *, person: Person | None, data: bytes, source_name: str = "", domain: Domain | None = None
) -> PhotoOutcome:
    """Store a photo of ``person`` and its largest face's embedding, in one transaction (without a
    person: an archive photo of ``domain`` with every face, unassigned).

    A picture already in the domain (same content hash) is not stored again. Bytes that are not a
    usable image raise ImageRejected and write nothing. A photo without a face is kept with status
    ``no_face`` so that a rerun of an ingest does not try it again.
    """
    domain = photo_domain(person=person, domain=domain)
    content_hash = FacePhoto.hash_bytes(data)
    existing = FacePhoto.objects.filter(domain=domain, content_hash=content_hash).first()
    if existing is not None:
        return PhotoOutcome(photo=existing, created=False)
    image, faces = detect_faces(
        data, model_name=domain.model_name, detector=domain.detector, alignment=domain.alignment
    )
    try:
        with transaction.atomic():
            photo = _photo_store(
                domain=domain,
                person=person,
                data=data,
                decoded=image,
                content_hash=content_hash,
                source_name=source_name,
                status=FacePhoto.Status.EMBEDDED if faces else FacePhoto.Status.NO_FACE,
            )
            stored = faces_store(photo=photo, faces=faces, model_name=domain.model_name, alignment=domain.alignment)
            if stored:
                photo_reason_set(photo=photo, face=stored[0])
    except IntegrityError:
        # Another process stored the same picture meanwhile.
        return PhotoOutcome(photo=FacePhoto.objects.get(domain=domain, content_hash=content_hash), created=False)
    return PhotoOutcome(photo=photo, created=True)


@dataclass(frozen=True)
class UploadedPhoto:
    photo: FacePhoto
    created: bool  # False: the same picture was already in the domain
    task: GalleryTask | None  # the embedding task of a new photo


@transaction.atomic
def photos_upload(
    *, person: Person | None, files: list[tuple[bytes, str]], domain: Domain | None = None
) -> list[UploadedPhoto]:
    """Store photos of ``person`` (None: archive photos of ``domain``) as ``pending`` with one
    embedding task each, enqueued once this commits. Every file is decoded before anything is
    written, so a file that is not a usable image raises ImageRejected and nothing at all is stored."""
    domain = photo_domain(person=person, domain=domain)
    decoded = [decode_image(data) for data, _ in files]
    uploaded = []
    for (data, name), image in zip(files, decoded, strict=True):
        photo, created = photo_store_pending(person=person, domain=domain, data=data, source_name=name, decoded=image)
        task = None
        if created:
            task = gallery_task_create(
                kind=GalleryTask.Kind.EMBED_PHOTO, domain=domain, params={"photo_ids": [photo.id]}, total=1
            )
        uploaded.append(UploadedPhoto(photo=photo, created=created, task=task))
    return uploaded


def photo_store_pending(
    *, person: Person | None, data: bytes, source_name: str = "", decoded: DecodedImage | None = None,
    domain: Domain | None = None,
) -> tuple[FacePhoto, bool]:
    """Store the photo file and a ``pending`` row (no face yet); an existing picture is returned.
    Raises ImageRejected for bytes that are not a usable image (``decoded``: already decoded)."""
    domain = photo_domain(person=person, domain=domain)
    content_hash = FacePhoto.hash_bytes(data)
    existing = FacePhoto.objects.filter(domain_id=domain.pk, content_hash=content_hash).first()
    if existing is not None:
        return existing, False
    decoded = decoded or decode_image(data)
    try:
        with transaction.atomic():
            photo = _photo_store(
                domain=domain,
                person=person,
                data=data,
                decoded=decoded,
                content_hash=content_hash,
                source_name=source_name,
                status=FacePhoto.Status.PENDING,
            )
    except IntegrityError:
        return FacePhoto.objects.get(domain_id=domain.pk, content_hash=content_hash), False
    return photo, True


@transaction.atomic
def photo_import(
    *, person: Person, content_hash: str, source_name: str, model_name: str, alignment: str, face: Face | None,
    data: bytes | None = None, extension: str = "img",
) -> FacePhoto:
    """Store a photo whose face was found elsewhere (a migrated DeepFace gallery) with that face's
    vector as it is: nothing is detected or embedded here. Without ``data`` (the picture is not on
    this machine) only the row is stored."""
    photo = FacePhoto(
        domain_id=person.domain_id,
        person=person,
        content_hash=content_hash,
        source_name=source_name[:500],
        status=FacePhoto.Status.EMBEDDED if face is not None else FacePhoto.Status.NO_FACE,
        reason="" if face is not None else "no face in the PKL record",
    )
    if data is not None:
        photo.image.save(f"{content_hash}.{extension}", ContentFile(data), save=False)
    photo.save()
    _added_record(photo, person.domain, person)
    if face is not None:
        face_store(photo=photo, face=face, model_name=model_name, alignment=alignment)
    return photo


def _photo_store(
    *, domain: Domain, person: Person | None, data: bytes, decoded: DecodedImage, content_hash: str,
    source_name: str, status: str,
) -> FacePhoto:
    """Write the photo file (named by content hash and format) and its row."""
    width, height = decoded.original_size
    photo = FacePhoto(
        domain_id=domain.pk,
        person=person,
        content_hash=content_hash,
        source_name=source_name[:500],
        status=status,
        width=width,
        height=height,
    )
    photo.image.save(f"{content_hash}.{decoded.extension}", ContentFile(data), save=False)
    photo.save()
    _added_record(photo, domain, person)
    return photo


def _added_record(photo: FacePhoto, domain: Domain, person: Person | None) -> None:
    # Ids only: the hash, file name and source name would name (or find) the picture. An archive
    # photo has no person (its faces are assigned one by one: cluster.assign).
    audit_record(action="photo.add", obj=photo, domain=domain, details={"person": person.pk if person else None})


def faces_store(*, photo: FacePhoto, faces: list[Face], model_name: str, alignment: str) -> list[FaceEmbedding]:
    """Store the faces ``photo`` keeps (``faces_kept``; ``faces`` largest first) in one space."""
    return [
        face_store(photo=photo, face=face, model_name=model_name, alignment=alignment, position=position)
        for position, face in enumerate(faces_kept(photo=photo, faces=faces))
    ]


def _iou(a: FaceEmbedding, b: FaceEmbedding) -> float:
    ax2, ay2, bx2, by2 = a.box_x + a.box_w, a.box_y + a.box_h, b.box_x + b.box_w, b.box_y + b.box_h
    w = min(ax2, bx2) - max(a.box_x, b.box_x)
    h = min(ay2, by2) - max(a.box_y, b.box_y)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.box_w * a.box_h + b.box_w * b.box_h - inter)


FACE_MATCH_IOU = 0.5  # two detections of one photo are the same face when their boxes overlap this much


def faces_counterparts(*, old: list[FaceEmbedding], new: list[FaceEmbedding]) -> dict[int, FaceEmbedding]:
    """Which face of ``old`` (one photo's faces in one space or detection) each face of ``new``
    (the same photo detected again: another space, detector or alignment) is, by ``new`` face
    position: the old face at the same position when their boxes overlap (IoU >= 0.5), else the
    old face overlapping most (IoU >= 0.5) not already taken. A face without one is absent."""
    pairs: dict[int, FaceEmbedding] = {}
    taken: set[int] = set()
    by_position = {face.position: face for face in old}
    for face in new:
        same = by_position.get(face.position)
        if same is not None and _iou(face, same) >= FACE_MATCH_IOU:
            pairs[face.position] = same
            taken.add(same.pk)
    overlaps = sorted(
        ((_iou(face, other), face.position, other.pk, other) for face in new if face.position not in pairs
         for other in old if other.pk not in taken),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    for overlap, position, pk, other in overlaps:
        if overlap < FACE_MATCH_IOU:
            break
        if position not in pairs and pk not in taken:
            pairs[position] = other
            taken.add(pk)
    return pairs


def faces_inherit(*, old: list[FaceEmbedding], new: list[FaceEmbedding]) -> int:
    """An archive photo detected again (a model switch, a re-embed) keeps what operators did: each
    new face takes the person of its counterpart in ``old`` (faces_counterparts) and, while
    unassigned, its cluster. A new face without a counterpart stays unassigned. Returns how many
    faces changed."""
    changed = 0
    pairs = faces_counterparts(old=old, new=new)
    for face in new:
        source = pairs.get(face.position)
        person_id = source.person_id if source else None
        cluster_id = source.cluster_id if source and person_id is None else None
        if (face.person_id, face.cluster_id) != (person_id, cluster_id):
            face.person_id, face.cluster_id = person_id, cluster_id
            face.save(update_fields=["person", "cluster"])
            changed += 1
    return changed


def face_store(*, photo: FacePhoto, face: Face, model_name: str, alignment: str, position: int = 0) -> FaceEmbedding:
    """Store a face of ``photo`` with its quality record against the domain's bar; a face below
    the bar is stored but not searchable (never returned by a search, never clustered). A face of
    an archive photo is stored without a person."""
    record = face.quality.as_dict(photo.domain.quality_bar) if face.quality is not None else None
    return FaceEmbedding.objects.create(
        photo=photo,
        position=position,
        person_id=photo.person_id,
        domain_id=photo.domain_id,
        model_name=model_name,
        alignment=alignment,
        embedding=face.embedding,
        box_x=face.box["x"],
        box_y=face.box["y"],
        box_w=face.box["w"],
        box_h=face.box["h"],
        detection_confidence=face.confidence,
        quality=record,
        searchable=not (record and record["issues"]),
    )


def photo_reason_set(*, photo: FacePhoto, face: FaceEmbedding) -> None:
    """An embedded photo's reason: why its face is kept out of search, or nothing."""
    reason = "" if face.searchable else f"face below the quality bar: {', '.join(face.quality['issues'])}"
    if photo.reason != reason:
        photo.reason = reason
        photo.save(update_fields=["reason"])


@transaction.atomic
def photo_save(*, photo: FacePhoto, fields: list[str]) -> FacePhoto:
    """Save a photo as a form changed it (the admin's: only its source name is editable), recording
    which ``fields`` changed, not their values (a source name may name the person)."""
    photo.save()
    if fields:  # a form saved unchanged changes nothing
        audit_record(action="photo.update", obj=photo, domain=photo.domain, details={"fields": sorted(fields)})
    return photo


@transaction.atomic
def photos_move(*, photos: QuerySet[FacePhoto], person: Person) -> int:
    """Give these photos, and so their faces, to ``person``. A photo of another domain than the
    person's raises ValueError and nothing moves (the database would refuse it too)."""
    if photos.exclude(domain_id=person.domain_id).exists():
        raise ValueError("a photo cannot move to a person of another domain")
    if photos.filter(person__isnull=True).exists():
        raise ValueError("an archive photo's faces are given to persons one by one, not the photo")
    ids = list(photos.values_list("pk", flat=True))
    # The faces follow: the database cascades a photo's person to its faces (migration 0003).
    moved = FacePhoto.objects.filter(pk__in=ids).update(person=person)
    if moved:
        audit_record(action="photo.move", obj=person, domain=person.domain, details={"photos": ids})
    return moved
