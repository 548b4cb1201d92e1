"""The OpenAPI schema documents every API route, its auth and its errors, and real answers fit it."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import add_photos, face_bytes

SKIP_VIEWS = {"SpectacularAPIView", "SpectacularSwaggerView"}


@pytest.fixture(scope="module")
def schema():
    from django.test import Client

    response = Client().get("/api/v1/schema", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _drf_routes(patterns=None, prefix: str = "") -> list[str]:
    """Every URL of the project served by a DRF view (the admin excluded), as OpenAPI paths."""
    import re

    routes = []
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if not route.startswith("admin/"):
                routes += _drf_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "cls", None)
            if view is not None and view.__name__ not in SKIP_VIEWS:
                routes.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).lstrip("^").rstrip("$"))
    return routes


def test_schema_is_valid_openapi(schema):
    from drf_spectacular.validation import validate_schema

    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


def test_every_api_route_is_documented(schema):
    routes = _drf_routes()
    assert {"/api/v1/recognize", "/api/v1/compare", "/recognize", "/healthz", "/readyz", "/metrics"} <= set(routes)
    missing = [route for route in routes if route not in schema["paths"]]
    assert missing == []


def test_api_key_auth_and_errors_are_documented_on_every_authenticated_operation(schema):
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    assert "bare" in scheme["description"]
    authenticated = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if any("ApiKey" in requirement for requirement in operation.get("security", [])):
                authenticated += 1
                error = operation["responses"].get("401", {})
                assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, path
            if path.startswith("/api/") and path != "/api/v1/schema":
                assert any("ApiKey" in requirement for requirement in operation.get("security", [])), (method, path)
    assert authenticated >= 3
    for path in ("/healthz", "/readyz", "/metrics"):
        assert operations_security(schema, path) == [{}]


def operations_security(schema, path):
    return schema["paths"][path]["get"].get("security")


def test_recognize_documents_its_bodies_and_errors(schema):
    operation = schema["paths"]["/api/v1/recognize"]["post"]
    assert set(operation["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert {"200", "400", "401", "404", "413", "415", "503"} <= set(operation["responses"])
    compare = schema["paths"]["/api/v1/compare"]["post"]
    assert "422" in compare["responses"]
    assert set(schema["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}


def _validator(schema, component: str) -> jsonschema.Draft7Validator:
    """A JSON-Schema validator for one component (OpenAPI 3.0 ``nullable`` turned into JSON Schema)."""

    def convert(node):
        if isinstance(node, dict):
            node = {key: convert(value) for key, value in node.items()}
            if node.pop("nullable", False):
                return {"anyOf": [node, {"type": "null"}]}
            if "$ref" in node:
                node["$ref"] = node["$ref"].replace("#/components/schemas/", "#/definitions/")
            return node
        if isinstance(node, list):
            return [convert(item) for item in node]
        return node

    definitions = convert(copy.deepcopy(schema["components"]["schemas"]))
    root = {"definitions": definitions, "$ref": f"#/definitions/{component}"}
    return jsonschema.Draft7Validator(root)



def _upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, face_bytes(name), content_type="image/jpeg")


def test_real_answers_match_the_schema(schema, alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")

    recognize = alice.client.post("/api/v1/recognize", {"image": _upload("couple.jpg"), "exact": True},
                                  format="multipart")
    legacy = alice.client.post("/recognize", {"image": _upload("img4.jpg")}, format="multipart")
    compare = alice.client.post("/api/v1/compare", {"image1": _upload("img1.jpg"), "image2": _upload("img4.jpg")},
                                format="multipart")
    refused = alice.client.post("/api/v1/compare", {"image1": _upload("img1.jpg")}, format="multipart")

    assert recognize.status_code == legacy.status_code == compare.status_code == 200
    _validator(schema, "RecognizeResponse").validate(recognize.json())
    _validator(schema, "LegacyResponse").validate(legacy.json())
    _validator(schema, "CompareResponse").validate(compare.json())
    assert refused.status_code == 400
    _validator(schema, "Error").validate(refused.json())
    # The schema is strict enough to fail: a face without its box is rejected.
    broken = recognize.json()
    del broken["faces"][0]["box"]
    assert not _validator(schema, "RecognizeResponse").is_valid(broken)


def test_swagger_ui_is_served_without_a_cdn(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/schema" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assert "swagger-ui-dist" in html  # the assets of drf-spectacular-sidecar, served by whitenoise
