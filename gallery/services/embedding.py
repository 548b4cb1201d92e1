"""Embedding stored photos: detect the largest face of a photo already stored and write its vector
in the domain's serving vector space (model and alignment), and in the pending one while a switch
runs. Run by the ``embed_photo`` / ``embed_batch`` tasks, the ingest and the model switch."""

from __future__ import annotations

from django.db import transaction

from faces.images import ImageRejected
from faces.pipeline import Face, detect_faces
from gallery.models import Domain, FaceEmbedding, FacePhoto, GalleryTask
from gallery.services.audit import audit_record
from gallery.services.clusters import clusters_update_enqueue
from gallery.services.photos import faces_inherit, faces_store, photo_reason_set
from gallery.services.task_records import gallery_task_advance, gallery_task_create


@transaction.atomic
def photos_embed_enqueue(*, domain: Domain, photo_ids: list[int], replace: bool = False) -> GalleryTask:
    """One background task embedding these photos (``replace``: again, replacing their faces,
    which is recorded as a re-embed; a first embedding is part of the photo's ``photo.add``)."""
    task = gallery_task_create(
        kind=GalleryTask.Kind.EMBED_BATCH,
        domain=domain,
        params={"photo_ids": list(photo_ids), "replace": replace},
        total=len(photo_ids),
    )
    if replace:
        audit_record(action="photo.reembed", obj=task, domain=domain,
                     details={"photos": list(photo_ids)})
    return task


def photos_embed_run(*, task: GalleryTask) -> dict:
    """The ``embed_photo`` and ``embed_batch`` tasks' work: how many photos ended how."""
    counts: dict[str, int] = {}
    for photo_id in task.params["photo_ids"]:
        outcome = photo_embed(photo_id=photo_id, replace=task.params.get("replace", False))
        counts[outcome] = counts.get(outcome, 0) + 1
        gallery_task_advance(task=task, by=1)
    return counts


def photo_embed(*, photo_id: int, replace: bool = False) -> str:
    """Detect and embed a stored photo in its domain's serving space (model and alignment), and in
    the pending space too while a switch runs. Idempotent: a photo already done is skipped unless
    ``replace``. Returns the serving space's outcome: embedded, no_face, failed, skipped or gone."""
    photo = FacePhoto.objects.select_related("domain").filter(pk=photo_id).first()
    if photo is None:
        return "gone"
    domain = photo.domain
    targets = {domain.space: domain.detector}
    if domain.pending_space:
        targets[domain.pending_space] = domain.pending_detector  # same space: the new detector wins
    outcome = "skipped"
    for (model_name, alignment), detector in targets.items():
        result = photo_embed_with(
            photo=photo, model_name=model_name, alignment=alignment, detector=detector, replace=replace
        )
        if (model_name, alignment) == domain.space:
            outcome = result
    return outcome


def photo_embed_with(
    *, photo: FacePhoto, model_name: str, alignment: str, detector: str, replace: bool = False
) -> str:
    """Embed ``photo`` in one space. The face row and (for the serving space) the photo's status
    commit together under a lock on the photo row, so concurrent or redelivered runs store one face."""
    space = (model_name, alignment)
    if not replace and _photo_done(photo, space):
        return "skipped"
    try:
        with photo.image.open("rb") as handle:
            data = handle.read()
        _, faces = detect_faces(data, model_name=model_name, detector=detector, alignment=alignment)
    except (ImageRejected, OSError) as exc:
        reason = str(exc) if isinstance(exc, ImageRejected) else f"cannot read the stored file: {exc}"
        if space == photo.domain.space:
            photo.status, photo.reason = FacePhoto.Status.FAILED, reason
            photo.save(update_fields=["status", "reason"])  # save(), not update(): the ingest metrics count it
        return "failed"
    return _faces_commit(photo=photo, space=space, faces=faces, replace=replace)


def _photo_done(photo: FacePhoto, space: tuple[str, str]) -> bool:
    if FaceEmbedding.objects.filter(photo_id=photo.pk, model_name=space[0], alignment=space[1]).exists():
        return True
    return space == photo.domain.space and photo.status != FacePhoto.Status.PENDING


@transaction.atomic
def _faces_commit(*, photo: FacePhoto, space: tuple[str, str], faces: list[Face], replace: bool) -> str:
    locked = FacePhoto.objects.select_for_update().filter(pk=photo.pk).first()
    if locked is None:
        return "gone"  # removed while it was being embedded
    domain = Domain.objects.get(pk=locked.domain_id)
    if space not in (domain.space, domain.pending_space):
        return "skipped"  # the domain switched spaces meanwhile
    model_name, alignment = space
    existing = FaceEmbedding.objects.filter(photo=locked, model_name=model_name, alignment=alignment)
    if not replace and existing.exists():
        return "skipped"
    # An archive photo's faces in the serving space, as operators left them (named, clustered):
    # the faces detected now are the same people (gallery.services.photos.faces_inherit).
    serving = []
    if locked.person_id is None:
        serving = list(FaceEmbedding.objects.filter(photo=locked, model_name=domain.model_name,
                                                    alignment=domain.alignment).defer("embedding"))
    if replace:
        existing.delete()
    stored = faces_store(photo=locked, faces=faces, model_name=model_name, alignment=alignment)
    if serving:
        faces_inherit(old=serving, new=stored)
    if space == domain.space:
        locked.status = FacePhoto.Status.EMBEDDED if faces else FacePhoto.Status.NO_FACE
        locked.reason = "" if faces else "no face detected"
        locked.save(update_fields=["status", "reason"])
        if stored:
            photo_reason_set(photo=locked, face=stored[0])
        if any(face.person_id is None and face.cluster_id is None and face.searchable for face in stored):
            clusters_update_enqueue(domain=domain)
    return "embedded" if faces else "no_face"
