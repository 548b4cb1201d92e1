"""Switching a domain's vector space (model, detector or alignment) without downtime: the new
space's vectors are written beside the old ones by a ``reembed_domain`` task while searches keep
using the old, then one transaction flips."""

from __future__ import annotations

from django.db import transaction

from faces.models_zoo import check_alignment, check_available, native_alignment
from gallery.models import Domain, FaceCluster, FaceEmbedding, FacePhoto, GalleryTask
from gallery.services.audit import audit_record
from gallery.services.clusters import clusters_update_enqueue
from gallery.services.domains import domain_index_ensure
from gallery.services.embedding import photo_embed_with
from gallery.services.photos import faces_inherit
from gallery.services.task_records import gallery_task_advance, gallery_task_create

REEMBED_BATCH = 32


def domain_model_switch(
    *, domain: Domain, model_name: str, detector: str, alignment: str | None = None
) -> GalleryTask | None:
    """Start serving ``domain`` with another model/detector/alignment, without downtime.

    ``alignment`` defaults to the domain's own when the model stays, else to the new model's
    native one. The photos are re-embedded in the background (a ``reembed_domain`` task) into rows
    of the new space (model, alignment), side by side with the old ones; recognize keeps searching
    the old space until every photo is done, then ``domain_model_flip`` switches in one
    transaction. Changing only the detector re-embeds in place, photo by photo: the vectors stay in
    one space, so answers are never mixed. Raises ModelUnavailable (nothing changed) when the
    weights are missing or the model cannot take the alignment. Returns the task, or None when
    there is nothing to do."""
    if alignment is None:
        alignment = domain.alignment if model_name == domain.model_name else native_alignment(model_name)
    check_available(model_name, detector)
    check_alignment(model_name, alignment)
    domain_index_ensure(domain_id=domain.pk, model_name=model_name, alignment=alignment)
    with transaction.atomic():
        domain = Domain.objects.select_for_update().get(pk=domain.pk)
        abandoned = domain.pending_space
        if abandoned and abandoned not in (domain.space, (model_name, alignment)):
            FaceEmbedding.objects.filter(domain=domain, model_name=abandoned[0], alignment=abandoned[1]).delete()
        space = {"model_name": model_name, "detector": detector, "alignment": alignment}
        if (model_name, detector, alignment) == (domain.model_name, domain.detector, domain.alignment):
            Domain.objects.filter(pk=domain.pk).update(pending_model="", pending_detector="", pending_alignment="")
            if abandoned:
                audit_record(action="model_switch.cancel", obj=domain, domain=domain, details=space)
            return None
        Domain.objects.filter(pk=domain.pk).update(
            pending_model=model_name, pending_detector=detector, pending_alignment=alignment
        )
        task = gallery_task_create(
            kind=GalleryTask.Kind.REEMBED_DOMAIN, domain=domain, params=space, total=domain.photos.count()
        )
        audit_record(action="model_switch.start", obj=domain, domain=domain, details={**space, "task": str(task.pk)})
        return task


def _pending(domain: Domain) -> tuple[str, str, str]:
    return domain.pending_model, domain.pending_detector, domain.pending_alignment


def domain_reembed(*, task: GalleryTask) -> dict:
    """The ``reembed_domain`` task's work: embed every photo of the task's domain in the pending
    space, then flip. Progress is a cursor (the last photo id done) kept on the task, so a
    redelivered task resumes there."""
    model_name, detector = task.params["model_name"], task.params["detector"]
    alignment = task.params.get("alignment", "deepface")  # tasks queued before alignments existed
    cursor = int(task.result.get("cursor", 0))
    while True:
        domain = Domain.objects.get(pk=task.domain_id)
        if _pending(domain) != (model_name, detector, alignment):
            return {"cursor": cursor, "cancelled": True}
        in_place = (model_name, alignment) == domain.space
        photos = list(
            domain.photos.select_related("domain")
            .filter(id__gt=cursor)
            .exclude(status=FacePhoto.Status.FAILED)[:REEMBED_BATCH]
        )
        if not photos:
            break
        for photo in photos:
            photo_embed_with(
                photo=photo, model_name=model_name, alignment=alignment, detector=detector, replace=in_place
            )
        cursor = photos[-1].id
        gallery_task_advance(task=task, by=len(photos), result={"cursor": cursor})
    flipped = domain_model_flip(domain_id=task.domain_id, model_name=model_name, detector=detector, alignment=alignment)
    return {"cursor": cursor, "flipped": flipped}


def _archive_assignments_carry(*, domain: Domain, old_space: tuple[str, str], new_space: tuple[str, str]) -> int:
    """Archive photos' faces in the new space take the person (or, unassigned, the cluster) of
    their counterparts in the old space, as they are at the flip: a face named while the switch
    ran is named in the new space too (the re-embed copied what was there then)."""
    faces = FaceEmbedding.objects.filter(
        domain=domain, photo__person__isnull=True,
        model_name__in=[old_space[0], new_space[0]], alignment__in=[old_space[1], new_space[1]],
    ).defer("embedding").order_by("photo_id", "position")
    by_photo: dict[int, dict[tuple[str, str], list[FaceEmbedding]]] = {}
    for face in faces:
        by_photo.setdefault(face.photo_id, {}).setdefault((face.model_name, face.alignment), []).append(face)
    changed = 0
    for spaces in by_photo.values():
        if spaces.get(new_space):
            changed += faces_inherit(old=spaces.get(old_space, []), new=spaces[new_space])
    return changed


@transaction.atomic
def domain_model_flip(*, domain_id: int, model_name: str, detector: str, alignment: str) -> bool:
    """Make the pending space the serving one, in one step: statuses follow the new space's faces,
    the old space's vectors go, and the domain's threshold returns to the new space's default."""
    domain = Domain.objects.select_for_update().get(pk=domain_id)
    if _pending(domain) != (model_name, detector, alignment):
        return False
    old_space = domain.space
    if old_space != (model_name, alignment):
        photos = FacePhoto.objects.filter(domain=domain).exclude(status=FacePhoto.Status.PENDING)
        with_face = FaceEmbedding.objects.filter(domain=domain, model_name=model_name, alignment=alignment).values(
            "photo_id"
        )
        photos.filter(id__in=with_face).update(status=FacePhoto.Status.EMBEDDED, reason="")
        photos.filter(status=FacePhoto.Status.EMBEDDED).exclude(id__in=with_face).update(
            status=FacePhoto.Status.NO_FACE, reason="no face detected"
        )
        _archive_assignments_carry(domain=domain, old_space=old_space, new_space=(model_name, alignment))
        FaceEmbedding.objects.filter(domain=domain, model_name=old_space[0], alignment=old_space[1]).delete()
        FaceCluster.objects.filter(domain=domain, faces__isnull=True).delete()  # their faces had no counterpart
        if FaceEmbedding.objects.filter(
            domain=domain, model_name=model_name, alignment=alignment, person__isnull=True, cluster__isnull=True,
            searchable=True,
        ).exists():
            clusters_update_enqueue(domain=domain)
        domain.threshold = None
    # update(), not save(): the new space's index exists since the switch began, and the post_save
    # signal's CREATE INDEX would fail in this transaction (it has deleted face rows).
    Domain.objects.filter(pk=domain.pk).update(
        model_name=model_name, detector=detector, alignment=alignment,
        pending_model="", pending_detector="", pending_alignment="", threshold=domain.threshold,
    )
    audit_record(action="model_switch.finish", obj=domain, domain=domain,
                 details={"model_name": model_name, "detector": detector, "alignment": alignment,
                          "was": {"model_name": old_space[0], "alignment": old_space[1]}})
    return True
