"""API keys: stored as hashes, so a key's secret is shown once, when it is made."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from gallery.models import ApiKey, Domain
from gallery.services.audit import audit_record


@transaction.atomic
def api_key_create(*, name: str, domains: list[Domain], can_write: bool = False) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is not stored and cannot be shown again."""
    secret = _secret()
    key = ApiKey.objects.create(
        name=name, prefix=secret[:12], key_hash=ApiKey.hash_key(secret), can_write=can_write
    )
    key.domains.set(domains)
    audit_record(action="key.create", obj=key, details={
        "name": name, "can_write": can_write, "domains": sorted(domain.slug for domain in domains)
    })
    return key, secret


@transaction.atomic
def api_key_issue(*, key: ApiKey) -> str:
    """Give ``key`` a new secret (saving it) and return the secret, which is not stored."""
    created = key.pk is None
    secret = _secret()
    key.prefix, key.key_hash = secret[:12], ApiKey.hash_key(secret)
    key.save()
    audit_record(action="key.create" if created else "key.reissue", obj=key,
                 details={"name": key.name, "can_write": key.can_write})
    return secret


@transaction.atomic
def api_key_save(*, key: ApiKey, fields: list[str]) -> ApiKey:
    """Save a key as a form changed it (the admin's), recording which ``fields`` changed:
    ``key.revoke`` when it was deactivated."""
    key.save()
    if fields:  # a form saved unchanged changes nothing
        action = "key.revoke" if "active" in fields and not key.active else "key.update"
        audit_record(action=action, obj=key, details={"name": key.name, "fields": sorted(fields)})
    return key


def api_key_used(*, key: ApiKey) -> None:
    """Record that ``key`` authenticated a request now. It costs a write, so at most once a minute."""
    now = timezone.now()
    if key.last_used is None or (now - key.last_used).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used=now)


def _secret() -> str:
    return "frk_" + secrets.token_urlsafe(32)
