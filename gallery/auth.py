"""API-key authentication and domain scoping for the REST API.

Accepted headers: ``Authorization: Bearer <key>``, ``Token <key>`` and the bare ``<key>`` (the
existing front end sends the bare token). A key only ever sees its own domains: a domain outside
its scope answers 404, exactly like a domain that does not exist, so keys cannot probe for slugs.
"""

from __future__ import annotations

from rest_framework import authentication, exceptions, permissions, throttling

from facerec.errors import ApiError
from gallery.models import ApiKey, AuditEvent, Domain
from gallery.services import Actor, api_key_used
from gallery.services.audit import actor_bind

_SCHEMES = ("bearer", "token", "api-key")


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "").strip()
        if not header:
            return None
        parts = header.split()
        if len(parts) == 2 and parts[0].lower() in _SCHEMES:
            secret = parts[1]
        elif len(parts) == 1:
            secret = parts[0]
        else:
            raise exceptions.AuthenticationFailed("malformed Authorization header")
        key = ApiKey.objects.filter(key_hash=ApiKey.hash_key(secret), active=True).first()
        if key is None:
            raise exceptions.AuthenticationFailed("invalid API key")
        api_key_used(key=key)
        # What this request changes is recorded as this key's (gallery.services.audit).
        actor_bind(Actor(kind=AuditEvent.ActorKind.API_KEY, id=str(key.pk), name=key.name))
        return (None, key)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class HasApiKey(permissions.BasePermission):
    message = "an API key is required"

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            raise exceptions.NotAuthenticated("an API key is required (Authorization: Bearer <key>)")
        return True


class CanWrite(permissions.BasePermission):
    message = "this API key is read-only"

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey) and request.auth.can_write


def domain_for_key(key: ApiKey, slug: str | None) -> Domain:
    """The active domain ``slug`` within the key's scope; without a slug, the key's only domain."""
    scoped = key.domains.filter(active=True)
    if not slug:
        domains = list(scoped[:2])
        if len(domains) == 1:
            return domains[0]
        raise ApiError("domain is required (this key has several domains)", code="domain_required")
    domain = scoped.filter(slug=slug).first()
    if domain is None:
        raise ApiError(f"domain {slug!r} not found", code="domain_not_found", status_code=404)
    return domain


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """Requests per API key (API_THROTTLE_RATE, e.g. "1200/min"); excess answers 429."""

    scope = "api_key"

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None  # unauthenticated requests are refused before they count
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
