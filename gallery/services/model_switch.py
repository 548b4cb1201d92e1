"""Switching a domain's model without downtime: the new model's vectors are written beside the old
ones by a ``reembed_domain`` task while searches keep using the old, then one transaction flips."""

from __future__ import annotations

from django.db import transaction

from faces.models_zoo import check_available
from gallery.models import Domain, FaceEmbedding, FacePhoto, GalleryTask
from gallery.services.domains import domain_index_ensure
from gallery.services.embedding import photo_embed_with
from gallery.services.task_records import gallery_task_advance, gallery_task_create

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
    """The ``reembed_domain`` task's work: embed every photo of the task's domain with the pending
    model, then flip. Progress is a cursor (the last photo id done) kept on the task, so a
    redelivered task resumes there."""
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
        gallery_task_advance(task=task, by=len(photos), result={"cursor": cursor})
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
