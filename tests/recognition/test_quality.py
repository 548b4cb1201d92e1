"""The quality bar end to end (real PostgreSQL, real dlib): a face below a domain's bar is never
matched (unless the request overrides it), an enrolment photo below it is kept out of search, and
POST /api/v1/detect answers boxes and quality with recognize's errors."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageFilter

from tests.conftest import FACES, add_photos, face_bytes


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _blurred(name: str) -> bytes:
    return _jpeg(Image.open(FACES / name).convert("RGB").filter(ImageFilter.GaussianBlur(6)))


def _post(persona, route: str, data: bytes, **fields):
    upload = SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")
    return persona.client.post(f"/api/v1/{route}", {"image": upload, **fields}, format="multipart")


def test_face_below_the_domains_bar_is_not_matched_unless_overridden(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    alpha.min_face_size = 1000  # img4's face is 185 px
    alpha.save()

    face = _post(alice, "recognize", face_bytes("img4.jpg")).json()["faces"][0]

    assert face["match"] is None
    assert face["unmatched_reason"] == "quality"
    assert face["quality"]["issues"] == ["too_small"] and face["quality"]["size"] == 185
    assert face["candidates"][0]["person"]["name"] == "Angelina"  # still listed, for the client to see

    face = _post(alice, "recognize", face_bytes("img4.jpg"), quality_check="false").json()["faces"][0]

    assert face["match"]["person"]["name"] == "Angelina"
    assert face["unmatched_reason"] is None
    assert face["quality"]["issues"] == ["too_small"]  # reported all the same


def test_face_meeting_the_bar_matches_with_its_quality(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")

    face = _post(alice, "recognize", face_bytes("img4.jpg")).json()["faces"][0]

    assert face["match"]["person"]["name"] == "Angelina"
    assert face["quality"]["issues"] == [] and face["quality"]["sharpness"] > 100
    assert set(face["quality"]) == {"size", "sharpness", "yaw", "roll", "detection_confidence", "issues"}


def test_blurred_enrolment_photo_is_stored_but_never_returned(alpha, beta, alice, bob):
    from gallery.models import FaceEmbedding, FacePhoto
    from gallery.serializers import PhotoSerializer
    from gallery.services import person_get_or_create, photo_add

    person, _ = person_get_or_create(domain=alpha, name="Blurred Angelina")
    photo = photo_add(person=person, data=_blurred("img1.jpg"), source_name="blurred.jpg").photo
    add_photos(beta, "Angelina in beta", "img1.jpg")

    face = FaceEmbedding.objects.get(photo=photo)
    assert face.searchable is False and face.quality["issues"] == ["blurry"]
    photo.refresh_from_db()
    assert photo.status == FacePhoto.Status.EMBEDDED
    assert photo.reason == "face below the quality bar: blurry"
    shown = PhotoSerializer(FacePhoto.objects.prefetch_related("faces").get(pk=photo.pk)).data
    assert shown["faces"][0]["searchable"] is False and shown["faces"][0]["quality"]["issues"] == ["blurry"]

    for exact in ("false", "true"):
        body = _post(alice, "recognize", face_bytes("img4.jpg"), exact=exact).json()
        assert body["faces"][0]["match"] is None
        assert body["faces"][0]["candidates"] == []  # the only face of alpha is not searchable
    # beta's own sharp photo of the same face is found by beta's key, and only by it
    assert _post(bob, "recognize", face_bytes("img4.jpg")).json()["faces"][0]["match"]["person"]["name"] == (
        "Angelina in beta"
    )


def test_domain_without_a_bar_answers_as_before(alpha, alice):
    from gallery.models import FaceEmbedding

    alpha.min_face_size, alpha.min_sharpness, alpha.max_yaw = 0, 0.0, 0.0  # as migration 0004 leaves old domains
    alpha.save()
    add_photos(alpha, "Angelina", "img1.jpg")
    person = add_photos(alpha, "Blurred", "img2.jpg")
    from gallery.services import photo_add

    photo_add(person=person, data=_blurred("img5.jpg"), source_name="blurred.jpg")

    assert FaceEmbedding.objects.filter(domain=alpha, searchable=False).count() == 0
    small = _jpeg(Image.open(FACES / "img4.jpg").convert("RGB").resize((120, 83)))
    face = _post(alice, "recognize", small).json()["faces"][0]
    assert face["quality"]["issues"] == [] and face["quality"]["size"] < 40  # under any bar above 36
    assert face["unmatched_reason"] != "quality"


def test_detect_answers_boxes_and_quality_without_search(alpha, alice):
    add_photos(alpha, "Angelina", "img1.jpg")

    response = _post(alice, "detect", face_bytes("couple.jpg"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["domain"] == "alpha" and body["detector"] == "dlib"
    assert body["image"] == {"width": 640, "height": 446}
    assert len(body["faces"]) == 2
    first = body["faces"][0]
    assert set(first) == {"box", "detection_confidence", "landmarks", "quality"}
    assert first["quality"]["size"] == min(first["box"]["w"], first["box"]["h"])
    assert "match" not in first and "search" not in body["timings_ms"]


def test_detect_reports_a_blurred_face(alpha, alice):
    body = _post(alice, "detect", _blurred("img4.jpg")).json()

    assert body["faces"][0]["quality"]["issues"] == ["blurry"]


def test_detect_has_recognizes_errors(alpha, beta, alice, anonymous):
    from gallery.models import FacePhoto

    not_image = _post(alice, "detect", b"<html>not a photo</html>")
    assert not_image.status_code == 415 and not_image.json()["error"]["code"] == "unsupported_image"

    upload = SimpleUploadedFile("photo.jpg", face_bytes("img4.jpg"), content_type="image/jpeg")
    assert anonymous.post("/api/v1/detect", {"image": upload}, format="multipart").status_code == 401

    other = _post(alice, "detect", face_bytes("img4.jpg"), domain="beta")
    assert other.status_code == 404 and other.json()["error"]["code"] == "domain_not_found"
    assert FacePhoto.objects.count() == 0
