"""POST /recognize: the existing front end's route and answer shape, with v1's errors."""

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.conftest import add_photos, face_bytes


def _upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, face_bytes(name), content_type="image/jpeg")


def _bare(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=secret)  # the old front end sends the bare token
    return client


def test_front_end_gets_names_in_the_old_shape(alpha, alice):
    person = add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    add_photos(alpha, "Other", "img17.jpg")

    response = _bare(alice.key).post("/recognize", {"image": _upload("img4.jpg"), "domain": "alpha"}, format="multipart")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "success" and body["mode"] == "pgvector"
    [face] = body["recognized_faces"]
    assert face["name"] == "Angelina" and face["person_id"] == person.id
    assert 0 <= face["distance"] <= alpha.effective_threshold
    assert 0 < face["confidence"] <= 100
    assert set(face["box"]) == {"x", "y", "w", "h"} and face["box"]["w"] > 50


def test_unknown_face_has_null_name(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg")

    body = _bare(alice.key).post("/recognize", {"image": _upload("img17.jpg"), "domain": "alpha"},
                                 format="multipart").json()

    [face] = body["recognized_faces"]
    assert face["name"] is None and face["person_id"] is None
    assert face["distance"] > alpha.effective_threshold
    assert face["confidence"] == 0.0


def test_every_face_of_a_group_photo_is_listed(alpha, alice):
    body = _bare(alice.key).post("/recognize", {"image": _upload("couple.jpg"), "domain": "alpha"},
                                 format="multipart").json()
    assert len(body["recognized_faces"]) == 2
    assert all(face["name"] is None and face["distance"] is None for face in body["recognized_faces"])


def test_errors_are_the_v1_errors(alpha, beta, alice, bob, anonymous):
    cases = [
        (anonymous, {"image": _upload("img1.jpg"), "domain": "alpha"}, 401, "not_authenticated"),
        (_bare("frk_not-a-key"), {"image": _upload("img1.jpg"), "domain": "alpha"}, 401, "authentication_failed"),
        (bob.client, {"image": _upload("img1.jpg"), "domain": "alpha"}, 404, "domain_not_found"),
        (_bare(alice.key), {"domain": "alpha"}, 400, "image_required"),
        (_bare(alice.key), {"image": SimpleUploadedFile("a.jpg", b"GIF89a nonsense"), "domain": "alpha"},
         415, "unsupported_image"),
    ]
    for client, data, status, code in cases:
        response = client.post("/recognize", data, format="multipart")
        assert response.status_code == status, (code, response.content)
        assert response.json()["error"]["code"] == code


def test_same_answer_as_v1(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")

    legacy = _bare(alice.key).post("/recognize", {"image": _upload("img5.jpg"), "domain": "alpha"},
                                   format="multipart").json()["recognized_faces"]
    v1 = alice.client.post("/api/v1/recognize", {"image": _upload("img5.jpg"), "domain": "alpha"},
                           format="multipart").json()["faces"]

    assert [f["box"] for f in legacy] == [f["box"] for f in v1]
    assert [f["name"] for f in legacy] == [f["match"]["person"]["name"] if f["match"] else None for f in v1]
    assert [f["distance"] for f in legacy] == [f["candidates"][0]["distance"] for f in v1]


def test_answer_gives_the_photo_size_its_boxes_refer_to(alpha, alice):
    body = _bare(alice.key).post("/recognize", {"image": _upload("img1.jpg"), "domain": "alpha"},
                                 format="multipart").json()

    assert body["image"] == {"width": 473, "height": 640}
    assert body["status"] == "success" and len(body["recognized_faces"]) == 1
