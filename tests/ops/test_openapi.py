"""The OpenAPI schema documents every API route, its auth and its errors, and real answers fit it."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import add_photos, face_bytes, labels

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
    without_size = recognize.json()
    del without_size["image"]
    assert not _validator(schema, "RecognizeResponse").is_valid(without_size)


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
    batch = client.post("/api/v1/domains/alpha/recognize-batch", {"image": [_upload("couple.jpg")]},
                        format="multipart")
    check(f"{base}/recognize-batch", "post", batch, 202)
    check(f"{base}/recognize-batch/{{task_id}}", "get", client.get(batch.json()["results"]), 200)

    # Archive photos and their clusters: two photos of one person, one cluster.
    same = sorted(name for name, who in labels().items() if who == "id01" and name != "img1.jpg")[:2]
    archive = client.post("/api/v1/domains/alpha/images?wait=1", {"image": [_upload(n) for n in same]},
                          format="multipart")
    check(f"{base}/images", "post", archive, 201)
    check(f"{base}/images", "post", client.post("/api/v1/domains/alpha/images", {}, format="multipart"), 400)
    listed = client.get("/api/v1/domains/alpha/clusters", {"page_size": 5})
    check(f"{base}/clusters", "get", listed, 200)
    [cluster] = listed.json()["results"]
    assert cluster["size"] == 2
    clusters = f"/api/v1/domains/alpha/clusters/{cluster['id']}"
    alone = client.delete(f"{clusters}/faces/{cluster['faces'][0]['id']}")
    check(f"{base}/clusters/{{cluster_id}}/faces/{{face_id}}", "delete", alone, 200)
    check(f"{base}/clusters/{{cluster_id}}/dismiss", "post",
          client.post(f"/api/v1/domains/alpha/clusters/{alone.json()['id']}/dismiss"), 204)
    check(f"{base}/clusters/{{cluster_id}}/assign", "post", client.post(f"{clusters}/assign", {"name": "Ada"}, format="json"), 200)
    check(f"{base}/clusters/{{cluster_id}}/assign", "post", client.post(f"{clusters}/assign", {"name": "Ada"}, format="json"), 404)

    documented = {(path, method) for path, ops in schema["paths"].items() if path.startswith("/api/v1/domains")
                  or path.startswith("/api/v1/tasks") for method in ops}
    assert documented - set(checked) == {
        (f"{base}/persons/{{person_id}}/images/{{photo_id}}", "delete"),  # same view as {base}/images/{photo_id}
    }


# --- Swagger's "Try it out": every input's limits and a working example ------------------------

_SAMPLE_PATH_VALUES = {"slug": "demo", "person_id": "1", "photo_id": "1", "cluster_id": "1", "face_id": "1",
                       "task_id": "00000000-0000-0000-0000-000000000000"}


def _api_operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if any("ApiKey" in requirement for requirement in operation.get("security", [])):
                yield path, method, operation


def _resolve(schema, node: dict) -> dict:
    if "$ref" in node:
        return schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _body_properties(schema, operation) -> dict[str, dict]:
    """content type -> the request body's properties."""
    content = operation.get("requestBody", {}).get("content", {})
    return {media: _resolve(schema, body["schema"]).get("properties", {}) for media, body in content.items()}


def _is_file(prop: dict) -> bool:
    return prop.get("format") == "binary" or prop.get("items", {}).get("format") == "binary"


def _view_serializers(path: str, method: str) -> list:
    """The serializers the view behind ``path`` validates this operation's input with."""
    import re

    from django.urls import resolve

    view = resolve(re.sub(r"{(\w+)}", lambda m: _SAMPLE_PATH_VALUES[m.group(1)], path)).func.cls
    names = ["FilterSerializer"] if method == "get" else ["InputSerializer"] if method in ("post", "patch") else []
    return [getattr(view, name)() for name in names if hasattr(view, name)]


def _documented_inputs(schema, operation) -> list[tuple[str, dict]]:
    """(name, schema) of every body property (each content type) and query/path parameter."""
    inputs = [(name, prop) for props in _body_properties(schema, operation).values() for name, prop in props.items()]
    inputs += [(param["name"], param["schema"]) for param in operation.get("parameters", [])]
    return inputs


def test_every_input_string_has_a_max_length_and_every_number_a_minimum(schema):
    checked = 0
    for path, method, operation in _api_operations(schema):
        for name, prop in _documented_inputs(schema, operation):
            if prop.get("type") == "string" and not _is_file(prop) and "format" not in prop:
                assert "maxLength" in prop, (method, path, name, prop)
            if prop.get("type") in ("integer", "number") and not name.endswith("_id"):
                assert "minimum" in prop, (method, path, name, prop)
            checked += 1
    assert checked > 30


def test_documented_limits_are_the_serializers_limits(schema):
    """The schema's maxLength/minimum/maximum of each input are what the view's serializer enforces,
    and every input the view reads is documented."""
    from django.conf import settings

    checked = 0
    for path, method, operation in _api_operations(schema):
        documented = _documented_inputs(schema, operation)
        for serializer in _view_serializers(path, method):
            for name, field in serializer.fields.items():
                props = [prop for key, prop in documented if key == name]
                assert props, f"{method} {path}: {name} is not documented"
                if name.endswith("_base64"):  # a longer photo is 413 too_large (recognition/apis.read_image)
                    assert {prop["maxLength"] for prop in props} == {settings.MAX_UPLOAD_BYTES * 4 // 3 + 4}
                    continue
                for prop in props:
                    assert prop.get("maxLength") == getattr(field, "max_length", None), (method, path, name)
                    assert prop.get("minimum") == getattr(field, "min_value", None), (method, path, name)
                    assert prop.get("maximum") == getattr(field, "max_value", None), (method, path, name)
                    checked += 1
    assert checked > 20


def test_persons_page_size_is_documented_with_its_cap(schema):
    from gallery.apis import PersonPagination

    params = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/domains/{slug}/persons"]["get"]["parameters"]}
    assert params["page_size"]["maximum"] == PersonPagination.max_page_size
    assert params["page_size"]["minimum"] == params["page"]["minimum"] == 1


def test_recognize_examples_are_realistic(schema):
    """What Swagger prefills for recognize: a short domain slug and the default model's threshold
    (not the maximum, 2, which makes every face someone)."""
    from django.conf import settings

    from faces.models_zoo import default_threshold

    for props in _body_properties(schema, schema["paths"]["/api/v1/recognize"]["post"]).values():
        assert len(props["domain"]["example"]) <= props["domain"]["maxLength"] == 50
        assert props["threshold"]["example"] == default_threshold(settings.FACEREC_DEFAULT_MODEL)
        assert props["top_k"]["example"] == 5


def _example_value(name: str, prop: dict, *, multipart: bool, photo: str):
    if _is_file(prop):
        upload = _upload(photo)
        return [upload] if prop.get("type") == "array" else upload
    assert "example" in prop, f"{name} has no example for Swagger to prefill"
    value = prop["example"]
    if multipart and isinstance(value, bool):
        return "true" if value else "false"  # what Swagger sends in a form
    return value


def _example_request(schema, path: str, method: str, operation: dict, media: str, ids: dict):
    """The request Swagger's "Try it out" sends: the schema's examples, ids the user types in."""
    from urllib.parse import urlencode

    url = path
    query = {}
    for param in operation.get("parameters", []):
        value = param.get("example", param["schema"].get("example"))
        if param["in"] == "path":
            value = ids.get((param["name"], "/persons/" in path), ids.get(param["name"], value))
            assert value is not None, f"{method} {path}: no value for {param['name']}"
            url = url.replace("{" + param["name"] + "}", str(value))
        elif value is not None:
            query[param["name"]] = value
    if query:
        url += "?" + urlencode(query)
    if not media:
        return url, {}
    props = _body_properties(schema, operation)[media]
    photos = iter(["img4.jpg", "img2.jpg"])  # img4 is not in the gallery yet: an upload adds a photo
    body = {name: _example_value(name, prop, multipart=media != "application/json", photo=next(photos, "img4.jpg"))
            for name, prop in props.items()}
    if media == "application/json":
        return url, {"data": body, "format": "json"}
    if media == "multipart/form-data":
        return url, {"data": body, "format": "multipart"}
    return url, {"data": urlencode(body), "content_type": media}


def _ordered(operations):
    """Create a person first and add its photos, delete last (photos before their person)."""
    def rank(item):
        path, method, _ = item
        if method == "delete":
            return (3, -len(path))
        if method == "post" and path.endswith("/persons"):
            return (0, 0)
        if method == "post" and path.endswith("/images"):
            return (1, 0 if "/persons/" in path else 1)  # a person's photo first: the ids below are its
        if method == "post" and path.endswith("/recognize-batch"):
            return (1, 2)
        return (2, 0)

    return sorted(operations, key=rank)


def test_swagger_example_requests_succeed(schema, db):
    """Every API operation, sent with the schema's own examples (a real photo where a file is
    asked for) by a key that can read and write the example domain, is never refused as bad input."""
    from rest_framework.test import APIClient

    from gallery import services
    from gallery.services import api_key_create, domain_create

    slugs = {prop["example"] for _, _, op in _api_operations(schema) for name, prop in _documented_inputs(schema, op)
             if name in ("domain", "slug")}
    assert len(slugs) == 1, slugs  # one example domain everywhere
    domain = domain_create(slug=slugs.pop(), name="Example")
    known = add_photos(domain, "Angelina Jolie", "img1.jpg", "img2.jpg")
    _, secret = api_key_create(name="swagger", domains=[domain], can_write=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    # A photo id without its person's (/images/{photo_id}): one of the gallery's own photos.
    ids, answered = {("photo_id", False): known.photos.first().id}, []
    # Clusters as an operator finds them in the list: one per cluster route (one is named, one
    # dismissed, one loses a face), each an archive photo of another person.
    clusters = {}
    for action, photo in (("/assign", "img17.jpg"), ("/dismiss", "img50.jpg"), ("{face_id}", "img22.jpg")):
        face = services.photo_add(person=None, domain=domain, data=face_bytes(photo)).photo.faces.get()
        services.clusters_update(domain=domain)
        face.refresh_from_db()
        clusters[action] = (face.cluster_id, face.id)
    for path, method, operation in _ordered(_api_operations(schema)):
        for action, (cluster_id, face_id) in clusters.items():
            if path.endswith(action):
                ids["cluster_id"], ids["face_id"] = cluster_id, face_id
        for media in list(operation.get("requestBody", {}).get("content", {})) or [None]:
            url, kwargs = _example_request(schema, path, method, operation, media, ids)
            response = getattr(client, method)(url, **kwargs)
            answered.append((method, path, media, response.status_code))
            assert response.status_code < 400 or (path, media, response.status_code) == (
                "/api/v1/compare", "application/json", 422  # the example image is one grey pixel: no face
            ), (method, url, media, response.content[:500])
            body = response.json() if response.content else {}
            if method == "post" and path.endswith("/persons"):
                ids["person_id"] = body["id"]
            if method == "post" and path.endswith("/images") and "/persons/" in path:
                ids["photo_id"], ids["task_id"] = body["photos"][0]["id"], body["tasks"][0]
            if method == "post" and path.endswith("/recognize-batch"):
                ids["task_id"] = body["task"]  # its results' {task_id}; GET /api/v1/tasks/{task_id} shows any
    statuses = {(method, path, media): status for method, path, media, status in answered}
    assert statuses[("post", "/api/v1/recognize", "multipart/form-data")] == 200
    assert statuses[("post", "/api/v1/recognize", "application/json")] == 200
    assert statuses[("post", "/api/v1/compare", "multipart/form-data")] == 200
    assert statuses[("post", "/recognize", "multipart/form-data")] == 200
    assert len(answered) >= 16
