"""OpenAPI (drf-spectacular): the API-key scheme, the error contract, and errors every route shares.

Views declare their own specific errors (413 too_large, 422 no_face …). The post-processing hook
adds the errors that follow from how a route is reached — 401/429/503 on every authenticated route,
403 on writes (not on recognize, compare and recognize-batch, which any key of the domain may
ask), 400 on bodies, 404 on paths with an id — to every operation that does not declare them itself,
so routes added later are documented truthfully without repeating the list.

Inputs carry their real limits (``maxLength``, ``minimum``, ``maximum``: the serializers' own) and an
``example``, declared on the serializer field as ``style={"example": ...}`` and written into the
schema by ``AutoSchema``. Swagger UI prefills "Try it out" with the examples; without them it makes
up values from the limits (a random slug longer than any domain's, ``threshold=2``). The example
domain is ``demo``, the README's quick-start domain: with a key for another domain the prefilled
request answers 404 ``domain_not_found``, so replace it with one of ``GET /api/v1/domains``.

Two modules, so that a web worker never loads the schema generator (drf-spectacular's ``openapi``,
``plumbing``, ``generators`` and what they pull in: django.test, unittest; ~0.4 s and several MB
per worker, for a schema nobody asks it for). This one is what views and serializers import: the
error contract, the examples, the hook, ``extend_schema`` and ``schema_view``. facerec/openapi_schema.py
holds the generator's side (``AutoSchema``, the API-key scheme, ``SchemaGenerator``) and is imported
only when a schema is generated: by the schema views on their first request, by ``manage.py
spectacular``, by the deploy check, through ``SPECTACULAR_SETTINGS["DEFAULT_GENERATOR_CLASS"]``.

drf-spectacular's own ``extend_schema`` subclasses the default schema class when a view module is
imported, which would load the generator with the first route; ``extend_schema`` here records the
annotation and hands it to drf-spectacular's, in the same order, when the generator is loaded, so the
schema is the one drf-spectacular would have made (tests/ops/test_openapi.py). ruff bans the direct
import (pyproject.toml, banned-api).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.views.decorators.csrf import csrf_exempt
from drf_spectacular import utils
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ERROR_CODES = {
    400: "Invalid input: `invalid` (with `fields`), `image_required`, `invalid_base64`, `domain_required`, "
    "`parse_error`, `empty_image`, `invalid_image` (a corrupt image).",
    401: "`not_authenticated` (no API key) or `authentication_failed` (unknown, revoked or malformed key).",
    403: "`permission_denied`: the key is read-only or lacks the scope.",
    404: "`not_found` / `domain_not_found`: missing, or outside the key's domains (indistinguishable on purpose).",
    413: "`too_large` (the upload exceeds MAX_UPLOAD_BYTES) or `image_too_large` (too many pixels).",
    415: "`unsupported_image`: not an image in a supported format; `unsupported_media_type`: a request body "
    "that is neither multipart nor JSON.",
    409: "`external_id_taken`: another person of the domain has this external_id.",
    422: "`no_face`: a photo that must show a face does not.",
    429: "`throttled`: the key's request rate is exceeded; retry after `Retry-After` seconds.",
    503: "`database_unavailable`: the database is down or restarting (retry after `Retry-After` seconds); "
    "`model_unavailable`: the domain's model weights are missing on this server.",
}

# The domain every example request names (tests/ops/test_openapi.py sends them to a domain of that slug).
EXAMPLE_DOMAIN = "demo"
# Domain.slug's length (a SlugField's default).
DOMAIN_SLUG_MAX_LENGTH = 50


ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorDetail",
            {
                "code": serializers.CharField(help_text="Machine-readable error code"),
                "message": serializers.CharField(help_text="Human-readable explanation"),
                "fields": serializers.DictField(
                    required=False, help_text="Per-field messages (only for code `invalid`)"
                ),
            },
        )
    },
)


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """``responses=`` entries for the given error statuses, in the API's error contract."""
    return {status: OpenApiResponse(ErrorSerializer, description=ERROR_CODES[status]) for status in statuses}


_WRITE_METHODS = {"post", "put", "patch", "delete"}
_BODY_METHODS = {"post", "put", "patch"}


def _error_ref(status: int) -> dict:
    return {
        "description": ERROR_CODES[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def add_common_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular POSTPROCESSING_HOOK: complete every operation's list of error responses."""
    from rest_framework.settings import api_settings

    throttled = bool(api_settings.DEFAULT_THROTTLE_CLASSES)
    uses_error = False
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            statuses = set()
            if any(requirement for requirement in operation.get("security", [])):
                statuses |= {401, 503}  # a key is checked in the database, which may be restarting
                if throttled:
                    statuses.add(429)
                if method in _WRITE_METHODS and not path.endswith(("/recognize", "/compare", "/recognize-batch")):
                    statuses.add(403)
            if method in _BODY_METHODS and operation.get("security"):
                statuses.add(400)
            if "{" in path and operation.get("security"):
                statuses.add(404)
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses.setdefault(str(status), _error_ref(status))
            uses_error = uses_error or any(
                "#/components/schemas/Error" in str(response) for response in responses.values()
            )
    if uses_error and "Error" not in result.get("components", {}).get("schemas", {}):
        generator_schema = _error_component()
        result.setdefault("components", {}).setdefault("schemas", {}).update(generator_schema)
    return result


def _error_component() -> dict:
    return {
        "Error": {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {}},
                    },
                    "required": ["code", "message"],
                }
            },
            "required": ["error"],
        }
    }


# --- Annotations handed to drf-spectacular when a schema is generated ---------------------------

# (view class or method, extend_schema's arguments), in the order the decorators ran.
_annotations: list[tuple[Any, dict[str, Any]]] = []
_generator_loaded = False


def extend_schema(**kwargs: Any) -> Callable:
    """drf-spectacular's ``extend_schema`` (same arguments), applied when the schema generator is
    loaded (see the module's docstring); at once where it already is."""

    def annotate(target):
        if _generator_loaded:
            return utils.extend_schema(**kwargs)(target)
        _annotations.append((target, kwargs))
        return target

    return annotate


def apply_annotations() -> None:
    """Apply the recorded annotations (facerec/openapi_schema.py, as it is imported)."""
    global _generator_loaded
    _generator_loaded = True
    while _annotations:
        target, kwargs = _annotations.pop(0)
        utils.extend_schema(**kwargs)(target)


def schema_view(name: str, **initkwargs: Any) -> Callable:
    """``drf_spectacular.views.<name>.as_view(**initkwargs)``, imported on the route's first request."""
    view = None

    @csrf_exempt
    def lazy_view(request, *args, **kwargs):
        nonlocal view
        if view is None:
            from drf_spectacular import views

            import facerec.openapi_schema  # noqa: F401  (the annotations, before any view is described)

            view = getattr(views, name).as_view(**initkwargs)
        return view(request, *args, **kwargs)

    return lazy_view
