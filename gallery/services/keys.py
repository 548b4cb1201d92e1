"""API keys: stored as hashes, so a key's secret is shown once, when it is made."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from gallery.models import ApiKey, Domain


@transaction.atomic
def api_key_create(*, name: str, domains: list[Domain], can_write: bool = False) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is not stored and cannot be shown again."""
    secret = _secret()
    key = ApiKey.objects.create(
        name=name, prefix=secret[:12], key_hash=ApiKey.hash_key(secret), can_write=can_write
    )
    key.domains.set(domains)
    return key, secret


def api_key_issue(*, key: ApiKey) -> str:
    """Give ``key`` a new secret (saving it) and return the secret, which is not stored."""
    secret = _secret()
    key.prefix, key.key_hash = secret[:12], ApiKey.hash_key(secret)
    key.save()
    return secret


def api_key_used(*, key: ApiKey) -> None:
    """Record that ``key`` authenticated a request now. It costs a write, so at most once a minute."""
    now = timezone.now()
    if key.last_used is None or (now - key.last_used).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used=now)


def _secret() -> str:
    return "frk_" + secrets.token_urlsafe(32)
