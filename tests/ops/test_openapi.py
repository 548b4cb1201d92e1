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


def test_schema_generation_has_no_errors_or_warnings():
    """drf-spectacular falls back to guesses (and warns) for views it cannot describe: every
    view must describe itself (recognition/schemas.py, gallery/schemas.py)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file",
                           "/dev/null"], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _response_validator(schema, path: str, method: str, status: int) -> jsonschema.Draft7Validator:
    response = schema["paths"][path][method]["responses"][str(status)]
    component = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    return _validator(schema, component)


def test_every_gallery_route_answers_as_documented(schema, alpha, alice):
    from tests.conftest import add_photos

    add_photos(alpha, "Angelina", "img1.jpg")
    client = alice.client
    checked = []

    def check(path_template: str, method: str, response, status: int):
        assert response.status_code == status, (path_template, method, response.content[:500])
        if status != 204:
            _response_validator(schema, path_template, method, status).validate(response.json())
        assert str(status) in schema["paths"][path_template][method]["responses"]
        checked.append((path_template, method))

    base = "/api/v1/domains/{slug}"
    check("/api/v1/domains", "get", client.get("/api/v1/domains"), 200)
    check(f"{base}/persons", "get", client.get("/api/v1/domains/alpha/persons", {"search": "ang"}), 200)
    created = client.post("/api/v1/domains/alpha/persons", {"name": "Scarlett", "external_id": "crm-7"}, format="json")
    check(f"{base}/persons", "post", created, 201)
    person = created.json()["id"]
    detail = f"/api/v1/domains/alpha/persons/{person}"
    check(f"{base}/persons/{{person_id}}", "get", client.get(detail), 200)
    check(f"{base}/persons/{{person_id}}", "patch", client.patch(detail, {"name": "Scarlett J."}, format="json"), 200)
    upload = client.post(f"{detail}/images?wait=1", {"image": [_upload("img8.jpg"), _upload("img9.jpg")]},
                         format="multipart")
    check(f"{base}/persons/{{person_id}}/images", "post", upload, 201)
    photo, task = upload.json()["photos"][0]["id"], upload.json()["tasks"][0]
    check(f"{base}/persons/{{person_id}}/images", "get", client.get(f"{detail}/images"), 200)
    check(f"{base}/persons/{{person_id}}/images/{{photo_id}}", "get", client.get(f"{detail}/images/{photo}"), 200)
    check(f"{base}/images/{{photo_id}}", "get", client.get(f"/api/v1/domains/alpha/images/{photo}"), 200)
    check("/api/v1/tasks/{task_id}", "get", client.get(f"/api/v1/tasks/{task}"), 200)
    refused = client.post(f"{detail}/images", {}, format="multipart")
    check(f"{base}/persons/{{person_id}}/images", "post", refused, 400)
    check(f"{base}/images/{{photo_id}}", "delete", client.delete(f"/api/v1/domains/alpha/images/{photo}"), 204)
    check(f"{base}/persons/{{person_id}}", "delete", client.delete(detail), 204)
    missing = client.get(detail)
    check(f"{base}/persons/{{person_id}}", "get", missing, 404)

    documented = {(path, method) for path, ops in schema["paths"].items() if path.startswith("/api/v1/domains")
                  or path.startswith("/api/v1/tasks") for method in ops}
    assert documented - set(checked) == {
        (f"{base}/persons/{{person_id}}/images/{{photo_id}}", "delete"),  # same view as {base}/images/{photo_id}
    }
