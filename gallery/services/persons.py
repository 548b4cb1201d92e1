"""Persons: creating them (idempotent on an external id), changing them, merging two into one."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from gallery.models import Domain, FacePhoto, Person
from gallery.services.audit import audit_record
from gallery.services.erasure import persons_remove
from gallery.services.photos import photos_move


class ExternalIdTaken(Exception):
    """Another person of the domain already has this external id."""


def person_get_or_create(*, domain: Domain, name: str, external_id: str | None = None) -> tuple[Person, bool]:
    """The person of ``domain`` with this ``external_id`` (or, without one, this name), created
    if missing. Safe under concurrency: the database's unique constraints decide."""
    lookup = {"external_id": external_id} if external_id else {"name": name, "external_id": None}
    person = Person.objects.filter(domain=domain, **lookup).order_by("id").first()
    if person is not None:
        return person, False
    try:
        with transaction.atomic():
            person = Person.objects.create(domain=domain, name=name, external_id=external_id)
            _created_record(person)
            return person, True
    except IntegrityError:
        return Person.objects.get(domain=domain, **lookup), False


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
            _created_record(person)
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
            before = Person.objects.filter(pk=person.pk).values("name", "external_id", "active").first() or {}
            person.save()
            changed = [field for field, value in before.items() if getattr(person, field) != value]
            if changed:
                # Which fields, never their values (see gallery.services.audit); "active" is no personal data.
                details = {"fields": changed, **({"active": person.active} if "active" in changed else {})}
                action = "person.rename" if changed == ["name"] else "person.update"
                audit_record(action=action, obj=person, domain=person.domain, details=details)
    except IntegrityError:
        raise ExternalIdTaken(f"external_id {person.external_id!r} is already used in this domain") from None
    return person


def _created_record(person: Person) -> None:
    audit_record(
        action="person.create", obj=person, domain=person.domain,
        details={"active": person.active, "external_id": person.external_id is not None},
    )


@transaction.atomic
def person_merge(*, source: Person, target: Person) -> Person:
    """Move every photo and face of ``source`` to ``target`` and delete ``source``, in one
    transaction: a search sees either two persons or one, never a half-moved gallery."""
    if source.pk == target.pk:
        raise ValueError("a person cannot be merged into itself")
    if source.domain_id != target.domain_id:
        raise ValueError("persons of different domains cannot be merged")
    source, target = (Person.objects.select_for_update().get(pk=pk) for pk in (source.pk, target.pk))
    moved = photos_move(photos=FacePhoto.objects.filter(person=source), person=target)
    audit_record(action="person.merge", obj=source, domain=target.domain, details={"into": target.pk, "photos": moved})
    external_id = source.external_id
    persons_remove(persons=Person.objects.filter(pk=source.pk))  # nothing left of it but the row
    if external_id and not target.external_id:
        target.external_id = external_id
        target.save(update_fields=["external_id", "updated"])
    return target
