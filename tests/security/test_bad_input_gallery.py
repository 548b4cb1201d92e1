"""The bad-input battery for the gallery API: clean 4xx errors, never a 5xx, and a refused request
writes nothing (no rows, no files); odd but valid input (unicode names) works."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gallery.models import FacePhoto, GalleryTask, Person
from tests.conftest import add_photos, face_bytes
from tests.security.test_bad_input import BAD_IMAGES, HTML


@pytest.fixture
def person(alpha):
    return add_photos(alpha, "Angelina", "img1.jpg")


def _state(media_root) -> tuple:
    files = sorted(str(path) for path in media_root.rglob("*") if path.is_file())
    return (
        list(Person.objects.order_by("id").values_list("id", "name", "external_id", "active")),
        list(FacePhoto.objects.order_by("id").values_list("id", "status")),
        GalleryTask.objects.count(),
        files,
    )


def _assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code, error


BAD_PERSONS = [
    ("no-name", {}),
    ("empty-name", {"name": ""}),
    ("overlong-name", {"name": "n" * 201}),
    ("name-not-a-string", {"name": {"first": "A"}}),
    ("overlong-external-id", {"name": "A", "external_id": "e" * 201}),
    ("active-not-bool", {"name": "A", "active": "perhaps"}),
]


@pytest.mark.parametrize("case_id,payload", BAD_PERSONS, ids=[case[0] for case in BAD_PERSONS])
def test_bad_person_is_400_and_writes_nothing(person, alice, media_root, case_id, payload):
    before = _state(media_root)
    _assert_error(alice.client.post("/api/v1/domains/alpha/persons", payload, format="json"), 400, "invalid")
    assert _state(media_root) == before


@pytest.mark.parametrize("payload", [{"name": "x" * 201}, {"active": "sometimes"}, {"external_id": "e" * 300}])
def test_bad_person_update_is_400_and_changes_nothing(person, alice, media_root, payload):
    before = _state(media_root)
    response = alice.client.patch(f"/api/v1/domains/alpha/persons/{person.id}", payload, format="json")
    _assert_error(response, 400, "invalid")
    assert _state(media_root) == before


@pytest.mark.parametrize("name", ["Zoë Ødegård", "山田 太郎", "محمد علي", "O'Brien-Smith, Jr.", "😀 emoji person"])
def test_unicode_names_are_kept_exactly(alpha, alice, name):
    response = alice.client.post("/api/v1/domains/alpha/persons", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    listed = alice.client.get("/api/v1/domains/alpha/persons", {"search": name[:3]}).json()["results"]
    assert name in [item["name"] for item in listed]


@pytest.mark.parametrize("case_id,data,status,code", BAD_IMAGES, ids=[case[0] for case in BAD_IMAGES])
def test_bad_photo_upload_is_refused_and_writes_nothing(person, alice, media_root, case_id, data, status, code):
    before = _state(media_root)
    upload = SimpleUploadedFile("bad.jpg", data, content_type="image/jpeg")
    response = alice.client.post(f"/api/v1/domains/alpha/persons/{person.id}/images?wait=1", {"image": upload})
    _assert_error(response, status, code)
    assert _state(media_root) == before


def test_one_bad_file_among_good_ones_refuses_the_whole_request(person, alice, media_root):
    before = _state(media_root)
    files = [
        SimpleUploadedFile("good.jpg", face_bytes("img2.jpg"), content_type="image/jpeg"),
        SimpleUploadedFile("bad.jpg", HTML, content_type="image/jpeg"),
    ]
    response = alice.client.post(f"/api/v1/domains/alpha/persons/{person.id}/images", {"image": files})
    assert 400 <= response.status_code < 500
    assert _state(media_root) == before


def test_upload_without_file_is_400(person, alice):
    response = alice.client.post(f"/api/v1/domains/alpha/persons/{person.id}/images", {}, format="multipart")
    _assert_error(response, 400, "image_required")


@pytest.mark.parametrize("query,status", [
    ("page_size=abc", 200),  # an unusable page size falls back to the default one
    ("page=0", 404),
    ("page=999", 404),
    ("active=sometimes", 400),
    ("search=" + "s" * 300, 400),
])
def test_bad_list_parameters(person, alice, query, status):
    response = alice.client.get(f"/api/v1/domains/alpha/persons?{query}")
    assert response.status_code == status, response.content
    if status == 200:
        assert [item["name"] for item in response.json()["results"]] == ["Angelina"]
    else:
        assert response.json()["error"]["message"]


@pytest.mark.parametrize("url", [
    "/api/v1/domains/alpha/persons/999999",
    "/api/v1/domains/alpha/persons/999999/images",
    "/api/v1/domains/alpha/images/999999",
    "/api/v1/tasks/00000000-0000-0000-0000-000000000000",
    "/api/v1/tasks/not-a-uuid",
    "/api/v1/domains/no-such-domain/persons",
])
def test_missing_things_are_404(person, alice, url):
    _assert_error(alice.client.get(url), 404)
