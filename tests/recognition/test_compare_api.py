import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.conftest import face_bytes


def _upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, face_bytes(name), content_type="image/jpeg")


def _blank() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 200, 200)).save(buffer, format="JPEG")
    return SimpleUploadedFile("blank.jpg", buffer.getvalue(), content_type="image/jpeg")


def test_same_person_is_verified(alpha, alice):
    response = alice.client.post("/api/v1/compare", {"image1": _upload("img1.jpg"), "image2": _upload("img2.jpg")})

    assert response.status_code == 200
    body = response.json()
    assert body["verified"] is True
    assert body["distance"] <= body["threshold"] == 0.055  # Dlib on its own chip, alpha's alignment
    assert (body["model"], body["alignment"]) == ("Dlib", "dlib_chip")
    assert set(body["faces"]["image1"]) == {"x", "y", "w", "h"}


def test_a_deepface_domain_compares_on_deepfaces_crop_and_threshold(db):
    from gallery.services import api_key_create, domain_create
    from tests.conftest import _client

    legacy = domain_create(slug="legacy", alignment="deepface")
    _, secret = api_key_create(name="legacy", domains=[legacy], can_write=False)
    body = _client(secret).post("/api/v1/compare", {"image1": _upload("img1.jpg"), "image2": _upload("img2.jpg")}).json()

    assert (body["alignment"], body["threshold"]) == ("deepface", 0.07)
    assert body["verified"] is True


def test_different_persons_are_not_verified(alpha, alice):
    body = alice.client.post("/api/v1/compare", {"image1": _upload("img1.jpg"), "image2": _upload("img17.jpg")}).json()

    assert body["verified"] is False
    assert body["distance"] > body["threshold"]


def test_side_without_face_is_422(alpha, alice):
    response = alice.client.post("/api/v1/compare", {"image1": _upload("img1.jpg"), "image2": _blank()})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "no_face"
    assert "image2" in response.json()["error"]["message"]


def test_missing_image_is_400(alpha, alice):
    response = alice.client.post("/api/v1/compare", {"image1": _upload("img1.jpg")})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "image_required"
