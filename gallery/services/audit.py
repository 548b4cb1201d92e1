"""The audit trail: who changed a domain's gallery, what, which object, when, from which request.

Every write service records its change here with one call, inside the transaction that makes the
change (so a rolled-back change leaves no row, and a committed one always has its row)::

    audit_record(action="person.create", obj=person, domain=person.domain, details={...})

The actor is not passed: it is the one acting now (``actor_current``), bound by the door the change
came through: the API's key authentication (gallery.auth), the admin's and web page's logged-in user
(gallery.middleware.ActorMiddleware), a management command (gallery.management.base.GalleryCommand),
a Celery task (the actor of the request that enqueued it, carried in the task's params by
``gallery_task_create`` and bound again by ``gallery_task_run``). Anything else (``manage.py
shell``, a script) is recorded as ``system``, named after the program.

Rows are append-only: the database refuses UPDATE and DELETE of them (a trigger, migration
0006_audit), except in a transaction that sets ``facerec.audit_purge`` (``audit_purge``, the
retention path). They name no biometric data and no personal data of the enrolled persons: no
vector, photo bytes, content hash, file path or source file name, and no person's name or
external id, only ids. So a person's erasure (GDPR art. 17) needs no rewrite of the trail: the
``person.delete`` row says which person id was erased, and no row anywhere says who that was.
Operators (key names, staff usernames, command names) are named: that is what the trail is for.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db import connection, models, transaction

from facerec.logging import current_request_id
from gallery.models import AuditEvent, Domain


@dataclass(frozen=True)
class Actor:
    kind: str  # AuditEvent.ActorKind
    id: str = ""  # the key's id, the user's id, the OS user running a command
    name: str = ""  # the key's name, the username, the command's name

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Actor | None:
        if not data or data.get("kind") not in AuditEvent.ActorKind.values:
            return None
        return cls(kind=data["kind"], id=str(data.get("id", "")), name=str(data.get("name", "")))


# An Actor, or a callable resolving one when a change is first recorded (the admin's request.user
# is lazy: most requests change nothing and should not load a session's user for it).
_actor: ContextVar[Actor | Callable[[], Actor | None] | None] = ContextVar("facerec_actor", default=None)


def actor_current() -> Actor:
    """Who is acting now; ``system`` (named after the program) when no door bound anyone."""
    actor = _actor.get()
    if callable(actor):
        actor = actor()
    return actor or Actor(kind=AuditEvent.ActorKind.SYSTEM, name=_program())


@contextmanager
def acting(actor: Actor | Callable[[], Actor | None] | None) -> Iterator[None]:
    """Bind ``actor`` for the changes made inside the block (``None`` keeps the current one)."""
    if actor is None:
        yield
        return
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def actor_bind(actor: Actor) -> None:
    """Bind ``actor`` until the enclosing ``acting`` block ends (API authentication runs inside
    the request's block, bound by the middleware, which unbinds it when the request ends)."""
    _actor.set(actor)


def command_actor(name: str) -> Actor:
    return Actor(kind=AuditEvent.ActorKind.COMMAND, id=_os_user(), name=name)


def audit_record(
    *, action: str, obj: models.Model | tuple[str, object] | None, domain: Domain | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """Record one change by the current actor, in the caller's transaction.

    ``obj``: the changed row, or ``(type, id)`` for one already deleted; ``domain``: the domain it
    belongs to (kept as id and slug, so the row outlives the domain); ``details``: JSON-able facts
    about the change, never biometric or personal data of an enrolled person (see the module)."""
    if isinstance(obj, models.Model):
        object_type, object_id = obj._meta.model_name, obj.pk
    else:
        object_type, object_id = obj if obj is not None else ("", "")
    actor = actor_current()
    return AuditEvent.objects.create(
        actor_kind=actor.kind, actor_id=actor.id[:64], actor_name=actor.name[:150],
        action=action, object_type=object_type, object_id="" if object_id is None else str(object_id),
        domain_id=domain.pk if domain is not None else None, domain_slug=domain.slug if domain is not None else "",
        request_id=current_request_id() or "", details=details or {},
    )


@transaction.atomic
def audit_purge(*, before: datetime) -> int:
    """Delete the audit rows older than ``before`` (a retention policy): the one path past the
    trigger that refuses deletes, and itself recorded."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL facerec.audit_purge = 'on'")
    deleted, _ = AuditEvent.objects.filter(created__lt=before).delete()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL facerec.audit_purge = 'off'")
    audit_record(action="audit.purge", obj=None, details={"before": before.isoformat(), "deleted": deleted})
    return deleted


def _program() -> str:
    argv = sys.argv or [""]
    program = os.path.basename(argv[0])
    if program == "__main__.py":  # python -m pytest, python -m celery
        program = os.path.basename(os.path.dirname(argv[0]))
    return f"{program} {argv[1]}" if program == "manage.py" and len(argv) > 1 else program


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
