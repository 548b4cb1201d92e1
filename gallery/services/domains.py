"""Domains: creating them, and keeping a vector index for each model they are searched with."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from faces.models_zoo import check_alignment, check_available, native_alignment
from gallery.indexes import vector_index_ensure
from gallery.models import Domain
from gallery.services.audit import audit_record


@transaction.atomic
def domain_create(
    *, slug: str, name: str = "", model_name: str | None = None, detector: str | None = None, alignment: str | None = None
) -> Domain:
    """A new domain; ``alignment`` defaults to the model's native one (dlib's chip for Dlib)."""
    model_name = model_name or settings.FACEREC_DEFAULT_MODEL
    detector = detector or settings.FACEREC_DEFAULT_DETECTOR
    alignment = alignment or native_alignment(model_name)
    check_available(model_name, detector)
    check_alignment(model_name, alignment)
    # The domain's vector index is created by the post_save signal (gallery.signals).
    domain = Domain.objects.create(
        slug=slug, name=name or slug, model_name=model_name, detector=detector, alignment=alignment
    )
    audit_record(action="domain.create", obj=domain, domain=domain,
                 details={"model_name": model_name, "detector": detector, "alignment": alignment})
    return domain


@transaction.atomic
def domain_save(*, domain: Domain, fields: list[str]) -> Domain:
    """Save a domain as a form changed it (the admin's; a model, detector or alignment change goes
    through ``domain_model_switch`` instead), recording which ``fields`` changed."""
    created = domain.pk is None
    domain.save()
    if created or fields:  # a form saved unchanged changes nothing
        audit_record(action="domain.create" if created else "domain.update", obj=domain, domain=domain,
                     details={"fields": sorted(fields)})
    return domain


def domain_get_or_create(*, slug: str) -> tuple[Domain, bool]:
    domain = Domain.objects.filter(slug=slug).first()
    if domain is not None:
        return domain, False
    try:
        return domain_create(slug=slug), True
    except IntegrityError:  # created by a concurrent process meanwhile
        return Domain.objects.get(slug=slug), False


def domain_index_ensure(*, domain_id: int, model_name: str, alignment: str) -> None:
    """Create the (domain, model, alignment) vector index if it is missing, also inside a transaction."""
    if connection.in_atomic_block:
        # PostgreSQL refuses CREATE INDEX on a table with pending deferred FK checks in the same
        # transaction (Django's foreign keys are DEFERRABLE INITIALLY DEFERRED): run them now.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    vector_index_ensure(domain_id=domain_id, model_name=model_name, alignment=alignment)
