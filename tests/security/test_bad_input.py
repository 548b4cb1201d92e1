"""The bad- and odd-input battery: bad input gets a 4xx in the JSON error contract, odd but valid
input the right answer; never a 5xx, and a failed request writes nothing."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from gallery.models import FaceEmbedding, FacePhoto, Person
from tests.conftest import add_photos, face_bytes

KNOWN = "img4.jpg"  # id01, whose other photos are in the gallery


def _face(mode: str = "RGB", fmt: str = "PNG", **save) -> bytes:
    image = Image.open(io.BytesIO(face_bytes(KNOWN))).convert("RGB")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)
    elif mode == "RGBA":
        image = image.convert("RGBA")
        image.putalpha(255)
    elif mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    else:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def _animated_gif() -> bytes:
    first = Image.open(io.BytesIO(face_bytes(KNOWN))).convert("P", palette=Image.Palette.ADAPTIVE)
    second = Image.new("P", first.size)
    buffer = io.BytesIO()
    first.save(buffer, format="GIF", save_all=True, append_images=[second], duration=100, loop=0)
    return buffer.getvalue()


def _exif_rotated() -> bytes:
    """The photo stored on its side with an EXIF tag saying "rotate 90° clockwise to view"."""
    image = Image.open(io.BytesIO(face_bytes(KNOWN))).convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=92)
    return buffer.getvalue()


def _bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header declares 900 megapixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _plain(size: tuple[int, int], fmt: str = "PNG", color=(90, 140, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
HTML = b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"

# (id, bytes, expected status, expected error code or None)
BAD_IMAGES = [
    ("empty", b"", 400, "empty_image"),
    ("text", b"hello, I am not a photo", 415, "unsupported_image"),
    ("svg-as-jpeg", SVG, 415, "unsupported_image"),
    ("html-as-jpeg", HTML, 415, "unsupported_image"),
    ("jpeg-header-only", face_bytes(KNOWN)[:120], 400, "invalid_image"),
    ("jpeg-truncated-half", face_bytes(KNOWN)[: len(face_bytes(KNOWN)) // 2], 400, "invalid_image"),
    ("png-header-only", _plain((50, 50))[:40], 415, "unsupported_image"),
    ("decompression-bomb", _bomb_png(), 413, "image_too_large"),
    ("zip-as-jpeg", b"PK\x03\x04" + b"\x00" * 200, 415, "unsupported_image"),
    ("pdf-as-jpeg", b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF", 415, "unsupported_image"),
]

# (id, bytes): valid photos of the known person in odd encodings; each must still match.
ODD_MATCHING = [
    ("cmyk-jpeg", _face("CMYK", "JPEG")),
    ("grey-jpeg", _face("L", "JPEG")),
    ("16-bit-png", _face("I;16", "PNG")),
    ("palette-png", _face("P", "PNG")),
    ("rgba-png", _face("RGBA", "PNG")),
    ("grey-alpha-png", _face("LA", "PNG")),
    ("webp", _face("RGB", "WEBP", quality=90)),
    ("tiff", _face("RGB", "TIFF")),
    ("bmp", _face("RGB", "BMP")),
    ("animated-gif", _animated_gif()),
    ("exif-rotated-jpeg", _exif_rotated()),
    ("progressive-jpeg", _face("RGB", "JPEG", progressive=True, quality=90)),
]

# (id, bytes): valid images with no face: 200 and an empty list.
ODD_NO_FACE = [
    ("one-pixel", _plain((1, 1))),
    ("ten-pixels", _plain((10, 10), "JPEG")),
    ("very-wide", _plain((8000, 8))),
    ("bilevel", _plain((64, 64), "BMP")),
    ("sky", _plain((640, 480), "JPEG")),
]


def _post(persona, data: bytes, name: str = "photo.jpg", **fields):
    upload = SimpleUploadedFile(name, data, content_type="image/jpeg")
    return persona.client.post("/api/v1/recognize", {"image": upload, **fields}, format="multipart")


def _assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body


def _counts() -> tuple[int, int, int]:
    return Person.objects.count(), FacePhoto.objects.count(), FaceEmbedding.objects.count()


@pytest.fixture
def gallery(alpha):
    add_photos(alpha, "Known", "img1.jpg", "img2.jpg")
    return alpha


@pytest.mark.parametrize("case_id,data,status,code", BAD_IMAGES, ids=[case[0] for case in BAD_IMAGES])
def test_bad_image_is_a_clean_4xx_and_writes_nothing(gallery, alice, media_root, case_id, data, status, code):
    before = _counts()
    files_before = sorted(media_root.rglob("*"))

    _assert_error(_post(alice, data), status, code)

    assert _counts() == before
    assert sorted(media_root.rglob("*")) == files_before


@pytest.mark.parametrize("case_id,data", ODD_MATCHING, ids=[case[0] for case in ODD_MATCHING])
def test_odd_but_valid_photo_still_matches(gallery, alice, case_id, data):
    response = _post(alice, data)

    assert response.status_code == 200, response.content
    faces = response.json()["faces"]
    assert len(faces) == 1
    assert faces[0]["match"] is not None and faces[0]["match"]["person"]["name"] == "Known"


@pytest.mark.parametrize("case_id,data", ODD_NO_FACE, ids=[case[0] for case in ODD_NO_FACE])
def test_valid_photo_without_face_is_200_with_no_faces(gallery, alice, case_id, data):
    response = _post(alice, data)

    assert response.status_code == 200, response.content
    assert response.json()["faces"] == []


def test_exif_rotated_box_is_in_the_upright_photo(gallery, alice):
    upright = _post(alice, face_bytes(KNOWN)).json()["faces"][0]["box"]
    rotated = _post(alice, _exif_rotated()).json()["faces"][0]["box"]

    for key in ("x", "y", "w", "h"):
        assert abs(upright[key] - rotated[key]) <= max(12, upright["w"] // 8), (upright, rotated)


def test_oversized_upload_is_413(gallery, alice, settings):
    settings.MAX_UPLOAD_BYTES = 10_000
    _assert_error(_post(alice, face_bytes(KNOWN)), 413, "too_large")


def test_oversized_base64_is_413(gallery, alice, settings):
    settings.MAX_UPLOAD_BYTES = 10_000
    payload = {"image_base64": base64.b64encode(face_bytes(KNOWN)).decode()}
    _assert_error(alice.client.post("/api/v1/recognize", payload, format="json"), 413, "too_large")


def test_too_many_pixels_is_413(gallery, alice, settings):
    settings.FACEREC_MAX_IMAGE_PIXELS = 100_000
    _assert_error(_post(alice, face_bytes(KNOWN)), 413, "image_too_large")


def test_max_faces_limits_a_crowd(gallery, alice):
    response = _post(alice, face_bytes("selfie-many-people.jpg"), max_faces=1)
    assert response.status_code == 200
    assert len(response.json()["faces"]) == 1


BAD_FIELDS = [
    ("top_k-zero", {"top_k": 0}),
    ("top_k-too-big", {"top_k": 101}),
    ("top_k-text", {"top_k": "five"}),
    ("top_k-float", {"top_k": "2.5"}),
    ("threshold-negative", {"threshold": -0.1}),
    ("threshold-too-big", {"threshold": 3}),
    ("threshold-text", {"threshold": "close"}),
    ("threshold-nan", {"threshold": "nan"}),
    ("max_faces-zero", {"max_faces": 0}),
    ("max_faces-text", {"max_faces": "all"}),
    ("exact-not-bool", {"exact": "maybe"}),
    ("domain-not-a-slug", {"domain": "../etc/passwd"}),
    ("domain-overlong", {"domain": "d" * 300}),
]


@pytest.mark.parametrize("case_id,fields", BAD_FIELDS, ids=[case[0] for case in BAD_FIELDS])
def test_malformed_parameter_is_400(gallery, alice, case_id, fields):
    response = _post(alice, face_bytes(KNOWN), **fields)
    _assert_error(response, 400, "invalid")
    assert response.json()["error"]["fields"]


def test_unknown_domain_is_404(gallery, alice):
    _assert_error(_post(alice, face_bytes(KNOWN), domain="nowhere"), 404, "domain_not_found")


def test_missing_image_is_400(gallery, alice):
    _assert_error(alice.client.post("/api/v1/recognize", {"top_k": 3}, format="multipart"), 400, "image_required")


@pytest.mark.parametrize("encoded", ["%%%not-base64%%%", "aGVsbG8", "data:image/jpeg;base64,@@@@"])
def test_bad_base64_is_400(gallery, alice, encoded):
    response = alice.client.post("/api/v1/recognize", {"image_base64": encoded}, format="json")
    _assert_error(response, 400, "invalid_base64")


def test_base64_of_a_non_image_is_415(gallery, alice):
    payload = {"image_base64": base64.b64encode(b"just text").decode()}
    _assert_error(alice.client.post("/api/v1/recognize", payload, format="json"), 415, "unsupported_image")


def test_base64_data_url_is_accepted(gallery, alice):
    payload = {"image_base64": "data:image/jpeg;base64," + base64.b64encode(face_bytes(KNOWN)).decode()}
    response = alice.client.post("/api/v1/recognize", payload, format="json")
    assert response.status_code == 200
    assert response.json()["faces"][0]["match"]["person"]["name"] == "Known"


def test_malformed_json_is_400(gallery, alice):
    response = alice.client.generic("POST", "/api/v1/recognize", b'{"image_base64": ', content_type="application/json")
    _assert_error(response, 400, "parse_error")


def test_unsupported_content_type_is_415(gallery, alice):
    response = alice.client.generic("POST", "/api/v1/recognize", b"raw bytes", content_type="text/plain")
    _assert_error(response, 415, "unsupported_media_type")


def test_get_on_recognize_is_405(gallery, alice):
    _assert_error(alice.client.get("/api/v1/recognize"), 405, "method_not_allowed")


def test_compare_with_a_non_image_is_415(gallery, alice):
    files = {
        "image1": SimpleUploadedFile("a.jpg", face_bytes(KNOWN), content_type="image/jpeg"),
        "image2": SimpleUploadedFile("b.jpg", HTML, content_type="image/jpeg"),
    }
    _assert_error(alice.client.post("/api/v1/compare", files, format="multipart"), 415, "unsupported_image")


def test_compare_with_a_bad_threshold_is_400(gallery, alice):
    files = {
        "image1": SimpleUploadedFile("a.jpg", face_bytes(KNOWN), content_type="image/jpeg"),
        "image2": SimpleUploadedFile("b.jpg", face_bytes("img1.jpg"), content_type="image/jpeg"),
        "threshold": "-5",
    }
    _assert_error(alice.client.post("/api/v1/compare", files, format="multipart"), 400, "invalid")


def test_compare_with_cmyk_and_webp_still_verifies(gallery, alice):
    files = {
        "image1": SimpleUploadedFile("a.jpg", _face("CMYK", "JPEG"), content_type="image/jpeg"),
        "image2": SimpleUploadedFile("b.webp", _face("RGB", "WEBP"), content_type="image/webp"),
    }
    response = alice.client.post("/api/v1/compare", files, format="multipart")
    assert response.status_code == 200
    assert response.json()["verified"] is True
