"""faces.quality on real photos and the real dlib detector: a sharp large face meets the default
bar, a blurred copy is blurry, a downscaled copy too small; pose from dlib's 5 landmarks."""

import io

import pytest
from PIL import Image, ImageFilter

from faces.pipeline import detect_faces
from faces.quality import NO_BAR, QualityBar, pose, quality_issues
from tests.conftest import FACES


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _quality(image: Image.Image):
    _, faces = detect_faces(_jpeg(image), model_name="Dlib", detector="dlib")
    assert len(faces) == 1
    return faces[0].quality


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(FACES / "img4.jpg").convert("RGB")  # 640 x 442, one face of 185 px


def test_sharp_large_face_has_no_issues(photo):
    quality = _quality(photo)

    assert quality.size == 185
    assert quality.sharpness > 100
    assert quality.issues(QualityBar()) == []


def test_blurred_face_is_blurry(photo):
    sharp = _quality(photo)
    blurred = _quality(photo.filter(ImageFilter.GaussianBlur(6)))

    assert blurred.size == sharp.size  # the same face, found just the same
    assert blurred.sharpness < QualityBar().min_sharpness < sharp.sharpness
    assert blurred.issues(QualityBar()) == ["blurry"]
    assert blurred.issues(NO_BAR) == []


def test_small_face_is_too_small_for_a_bar_above_its_size(photo):
    small = _quality(photo.resize((120, 83)))

    # 36 px is the smallest face dlib's HOG reports (its 80 px window at one upsampling); answers
    # stay reliable down to 32 px (the default bar), so only a higher bar flags it.
    assert small.size == 36
    assert small.issues(QualityBar()) == []
    assert small.issues(QualityBar(min_face_size=40)) == ["too_small"]


def test_size_is_in_the_photos_pixels_whatever_size_detection_ran_at(photo):
    # A 1280 px copy is detected at 640 px: the box, and so the size, are mapped back.
    assert _quality(photo.resize((1280, 884))).size == pytest.approx(2 * 185, abs=4)


def test_sharpness_does_not_depend_on_resolution(photo):
    sharp, big = _quality(photo), _quality(photo.resize((1280, 884), Image.Resampling.BICUBIC))

    assert big.sharpness == pytest.approx(sharp.sharpness, rel=0.25)


# dlib's 5 points: 0, 1 corners of the eye on the image's right, 2, 3 of the eye on its left, 4 nose base.
FRONTAL = [[140, 100], [120, 100], [60, 100], [80, 100], [100, 140]]


def test_frontal_landmarks_give_level_frontal_pose():
    yaw, roll = pose(FRONTAL)

    assert yaw == pytest.approx(0.0, abs=0.01) and roll == pytest.approx(0.0, abs=0.01)


def test_nose_beyond_an_eye_is_a_profile():
    turned = [*FRONTAL[:4], [135, 140]]  # the nose base under the image-right eye
    yaw, _ = pose(turned)

    assert yaw > 60
    quality = _quality_with(yaw=yaw)
    assert quality_issues(quality, QualityBar()) == ["profile"]


def test_tilted_head_has_roll_and_no_issue():
    tilted = [[140, 140], [120, 130], [60, 100], [80, 110], [90, 150]]  # image-right eye lower
    yaw, roll = pose(tilted)

    assert roll == pytest.approx(26.6, abs=0.5)
    assert abs(yaw) < 15
    assert quality_issues(_quality_with(yaw=yaw, roll=roll), QualityBar()) == []


def test_pose_is_unknown_without_landmarks_and_never_an_issue():
    assert pose(None) == (None, None)
    assert quality_issues(_quality_with(yaw=None), QualityBar(max_yaw=1)) == []


def _quality_with(*, yaw, roll=0.0):
    from faces.quality import FaceQuality

    return FaceQuality(size=200, sharpness=300.0, yaw=yaw, roll=roll, detection_confidence=1.0)
