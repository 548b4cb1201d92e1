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


def _photo(name: str, *, scale: float = 1.0, exif_orientation: int | None = None) -> bytes:
    """A test photo re-encoded: resized, or stored on its side with an EXIF tag saying how to view it."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(face_bytes(name))).convert("RGB")
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    exif = Image.Exif()
    if exif_orientation == 6:  # "rotate 90° clockwise to view": store it turned the other way
        image = image.transpose(Image.Transpose.ROTATE_90)
        exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


def _recognize_bytes(persona, data: bytes, **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")
    return persona.client.post("/api/v1/recognize", {"image": upload, **fields}, format="multipart")


def test_answer_gives_the_photo_size_its_boxes_refer_to(alpha, alice):
    body = recognize(alice, "img1.jpg").json()  # 473 x 640

    assert body["image"] == {"width": 473, "height": 640}
    box = body["faces"][0]["box"]
    assert box["x"] + box["w"] <= 473 and box["y"] + box["h"] <= 640


def test_photo_size_is_as_sent_when_detection_ran_on_a_smaller_copy(alpha, alice):
    small = recognize(alice, "img4.jpg").json()  # 640 x 442
    big = _recognize_bytes(alice, _photo("img4.jpg", scale=2.5)).json()  # decoded at 640 px for detection

    assert small["image"] == {"width": 640, "height": 442}
    assert big["image"] == {"width": 1600, "height": 1105}
    small_box, big_box = small["faces"][0]["box"], big["faces"][0]["box"]
    for key in ("x", "y", "w", "h"):
        assert abs(big_box[key] - 2.5 * small_box[key]) <= 12, (small_box, big_box)


def test_photo_size_of_an_exif_rotated_photo_is_upright(alpha, alice):
    upright = recognize(alice, "img4.jpg").json()
    rotated = _recognize_bytes(alice, _photo("img4.jpg", exif_orientation=6)).json()  # stored 442 x 640

    assert rotated["image"] == upright["image"] == {"width": 640, "height": 442}
    up, turned = upright["faces"][0]["box"], rotated["faces"][0]["box"]
    assert abs(up["x"] - turned["x"]) <= max(12, up["w"] // 8), (up, turned)


def test_photo_without_face_still_gives_its_size(alpha, alice):
    body = _recognize_bytes(alice, _photo("img4.jpg", scale=0.05)).json()  # 32 x 22: no face to find

    assert body["faces"] == []
    assert body["image"] == {"width": 32, "height": 22}


def test_confidence_is_50_at_the_threshold_and_falls_smoothly_with_distance():
    from recognition.services import match_confidence

    threshold = 0.07
    distances = [0.0, 0.01, 0.03, 0.05, 0.069, 0.07, 0.071, 0.09, 0.15, 0.5, 2.0]
    scores = [match_confidence(d, threshold=threshold) for d in distances]

    assert scores[0] == 100.0 and match_confidence(threshold, threshold=threshold) == 50.0
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert 0 < match_confidence(0.069, threshold=threshold) - match_confidence(0.071, threshold=threshold) < 5
    assert match_confidence(0.069, threshold=threshold) > 50 > match_confidence(0.071, threshold=threshold)
    # relative to the threshold: the same ratio means the same confidence for any model
    assert match_confidence(0.34, threshold=0.68) == pytest.approx(match_confidence(0.035, threshold=0.07))


def test_confidence_barely_moves_when_the_threshold_crosses_the_distance(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    distance = recognize(alice, "img4.jpg").json()["faces"][0]["candidates"][0]["distance"]

    inside = recognize(alice, "img4.jpg", threshold=distance * 1.005).json()["faces"][0]
    outside = recognize(alice, "img4.jpg", threshold=distance * 0.995).json()["faces"][0]

    assert inside["match"] is not None and outside["match"] is None
    above, below = inside["match"]["confidence"], outside["candidates"][0]["confidence"]
    assert 50 < above < 52 and 48 < below < 50, (above, below)
