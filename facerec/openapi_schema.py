"""The schema generator's side of the OpenAPI description, imported only when a schema is generated
(facerec/openapi.py says why and when): drf-spectacular's ``AutoSchema`` with the examples, the
API-key scheme, and the generator, whose import hands the views' annotations to drf-spectacular."""

from __future__ import annotations

from drf_spectacular import generators, openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from facerec.openapi import apply_annotations


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema generator, plus a serializer field's ``style={"example": value}``
    written as the property's OpenAPI ``example`` (what Swagger UI prefills forms with)."""

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        style = getattr(field, "style", None) or {}
        if "example" in style:
            meta["example"] = style["example"]
        return meta


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


class SchemaGenerator(generators.SchemaGenerator):
    """drf-spectacular's generator (``DEFAULT_GENERATOR_CLASS``): named in the settings so that every
    way of generating the schema loads this module, and with it the annotations, first."""


apply_annotations()
