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
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
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


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema generator, plus a serializer field's ``style={"example": value}``
    written as the property's OpenAPI ``example`` (what Swagger UI prefills forms with)."""

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        style = getattr(field, "style", None) or {}
        if "example" in style:
            meta["example"] = style["example"]
        return meta


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


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "gallery.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API key from `manage.py create_api_key NAME --domains a,b [--write]` or the admin, "
                "sent as `Authorization: Bearer <key>`. `Token <key>` and the bare `<key>` are also accepted "
                "(the bare form is what the legacy front end sends). Keys are scoped to domains and read-only "
                "unless created with --write."
            ),
        }


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
