"""Faces aligned the way each model was trained (faces.alignment), with the real Dlib model."""

import io

import numpy as np
from PIL import Image

from faces.distance import cosine_distance
from faces.models_zoo import default_threshold, native_alignment
from faces.pipeline import detect_faces
from tests.conftest import face_bytes, pairs


def _face(data: bytes, alignment: str):
    return detect_faces(data, model_name="Dlib", detector="dlib", alignment=alignment)[1][0]


def test_dlib_is_fed_its_chip_by_default_and_other_models_deepfaces_crop():
    assert native_alignment("Dlib") == "dlib_chip"
    assert native_alignment("ArcFace") == "deepface"
    assert default_threshold("Dlib", "dlib_chip") == 0.055
    assert default_threshold("Dlib", "deepface") == 0.07
    assert default_threshold("ArcFace") == 0.68


def test_chip_vector_differs_from_the_crops_for_the_same_photo():
    data = face_bytes("img1.jpg")
    chip, crop = _face(data, "dlib_chip"), _face(data, "deepface")

    assert chip.box == crop.box
    assert cosine_distance(chip.embedding, crop.embedding) > 0.01
    default = detect_faces(data, model_name="Dlib", detector="dlib")[1][0]
    np.testing.assert_array_equal(default.embedding, chip.embedding)


def test_same_person_distances_are_smaller_on_the_chip():
    same = [(x, y) for x, y, is_same in pairs() if is_same][:12]
    distances = {}
    for alignment in ("dlib_chip", "deepface"):
        distances[alignment] = np.median(
            [cosine_distance(_face(face_bytes(x), alignment).embedding, _face(face_bytes(y), alignment).embedding)
             for x, y in same]
        )
    print(f"same-person median distance: chip {distances['dlib_chip']:.4f}, crop {distances['deepface']:.4f}")
    assert distances["dlib_chip"] < distances["deepface"]


def test_landmarks_are_in_the_photos_pixels_for_a_downscaled_photo(settings):
    settings.FACEREC_MAX_IMAGE_SIDE = 320  # the 640 px photo is detected at half size
    image = Image.open(io.BytesIO(face_bytes("img1.jpg")))
    big = io.BytesIO()
    image.resize((image.width * 2, image.height * 2)).save(big, format="JPEG")
    for alignment in ("dlib_chip", "deepface"):
        face = _face(big.getvalue(), alignment)
        box, points = face.box, np.array(face.landmarks)

        assert points.shape == (5, 2)
        assert box["w"] > 300  # the box is in the doubled photo's pixels
        margin = 0.15 * box["w"]
        assert (points[:, 0] > box["x"] - margin).all() and (points[:, 0] < box["x"] + box["w"] + margin).all()
        assert (points[:, 1] > box["y"] - margin).all() and (points[:, 1] < box["y"] + box["h"] + margin).all()
        # dlib's order: the image-right eye's two corners, the image-left eye's, then the nose base
        assert points[0:2, 0].mean() > points[2:4, 0].mean() and points[4, 1] > points[0:4, 1].max()
