import pytest

from tests.conftest import add_photos, face_bytes


def recognize(persona, image: str, **fields):
    return persona.client.post("/api/v1/recognize", {"image": _upload(image), **fields}, format="multipart")


def _upload(name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, face_bytes(name), content_type="image/jpeg")


def test_known_face_is_recognized(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    add_photos(alpha, "Other", "img17.jpg")  # id03 in labels.csv

    response = recognize(alice, "img4.jpg")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["domain"] == "alpha" and body["model"] == "Dlib" and body["detector"] == "dlib"
    assert len(body["faces"]) == 1
    face = body["faces"][0]
    assert face["match"]["person"]["name"] == "Angelina"
    assert face["match"]["distance"] <= body["threshold"]
    assert face["candidates"][0]["faces_matched"] == 2
    assert {"decode", "detect", "embed", "search", "total"} <= set(body["timings_ms"])


def test_unknown_face_has_no_match_but_candidates(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")

    body = recognize(alice, "img17.jpg").json()

    assert body["faces"][0]["match"] is None
    assert body["faces"][0]["candidates"][0]["person"]["name"] == "Angelina"


def test_removed_person_is_not_recognized(alpha, alice, django_capture_on_commit_callbacks):
    from gallery.services import person_remove

    person = add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    assert recognize(alice, "img4.jpg").json()["faces"][0]["match"]["person"]["id"] == person.id

    with django_capture_on_commit_callbacks(execute=True):
        person_remove(person=person)

    body = recognize(alice, "img4.jpg").json()
    assert body["faces"][0]["match"] is None
    assert body["faces"][0]["candidates"] == []


def test_multi_face_photo_returns_every_face_largest_first(alpha, alice):
    body = recognize(alice, "couple.jpg").json()

    assert len(body["faces"]) == 2
    areas = [face["box"]["w"] * face["box"]["h"] for face in body["faces"]]
    assert areas == sorted(areas, reverse=True)


def test_max_faces_limits_faces(alpha, alice):
    body = recognize(alice, "selfie-many-people.jpg", max_faces=2).json()
    assert len(body["faces"]) == 2


def test_key_for_another_domain_gets_404(alpha, beta, alice, bob):
    add_photos(alpha, "Angelina", "img1.jpg")

    response = recognize(bob, "img4.jpg", domain="alpha")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "domain_not_found"


def test_no_key_is_401(alpha, anonymous):
    response = anonymous.post("/api/v1/recognize", {"image": _upload("img1.jpg")}, format="multipart")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("header", ["Bearer {}", "Token {}", "{}"])
def test_key_header_forms_are_accepted(alpha, alice, header):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.format(alice.key))
    response = client.post("/api/v1/recognize", {"image": _upload("img1.jpg")}, format="multipart")
    assert response.status_code == 200


def test_wrong_key_is_401(alpha):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer frk_nope")
    response = client.post("/api/v1/recognize", {"image": _upload("img1.jpg")}, format="multipart")
    assert response.status_code == 401


def test_non_image_is_rejected_and_writes_nothing(alpha, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from gallery.models import FacePhoto

    upload = SimpleUploadedFile("x.jpg", b"<html>not a photo</html>", content_type="image/jpeg")
    response = alice.client.post("/api/v1/recognize", {"image": upload}, format="multipart")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_image"
    assert FacePhoto.objects.count() == 0


def test_base64_image_is_accepted(alpha, alice):
    import base64

    add_photos(alpha, "Angelina", "img1.jpg")
    payload = {"image_base64": base64.b64encode(face_bytes("img4.jpg")).decode()}

    response = alice.client.post("/api/v1/recognize", payload, format="json")

    assert response.status_code == 200
    assert response.json()["faces"][0]["match"]["person"]["name"] == "Angelina"


def test_photo_without_face_answers_empty_list(alpha, alice):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (120, 160, 200)).save(buffer, format="PNG")
    upload = SimpleUploadedFile("sky.png", buffer.getvalue(), content_type="image/png")

    response = alice.client.post("/api/v1/recognize", {"image": upload}, format="multipart")

    assert response.status_code == 200
    assert response.json()["faces"] == []
