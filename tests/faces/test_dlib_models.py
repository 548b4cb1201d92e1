"""dlib's detector and ResNet called directly (faces.dlib_models) compute what DeepFace's own Dlib
clients compute, on every test photo and both alignments: a Dlib domain's vectors did not change
when DeepFace left the Dlib path. This test imports DeepFace on purpose (it is the reference); the
process-level check that serving Dlib domains does not is tests/recognition/test_light_worker.py."""

import os

import numpy as np
import pytest

from faces.alignment import deepface_crops, dlib_chips
from faces.images import ImageRejected, decode_image
from faces.pipeline import get_pipeline
from tests.conftest import FACES

TOLERANCE = 1e-4  # max |delta| per vector component


def _photos() -> list[np.ndarray]:
    images = []
    for path in sorted(FACES.glob("*.jp*g")):
        try:
            images.append(decode_image(path.read_bytes()).rgb)
        except ImageRejected:
            continue
    return images


@pytest.fixture(scope="module")
def deepface_dlib():
    from deepface.modules import modeling

    return (
        modeling.build_model(task="face_detector", model_name="dlib"),
        modeling.build_model(task="facial_recognition", model_name="Dlib"),
    )


def _deepface_crop_vector(bgr: np.ndarray, area, recognizer) -> np.ndarray:
    """What the pipeline computed for DeepFace's crop before dlib was called directly."""
    from deepface.modules import detection, preprocessing

    face = detection.extract_face(facial_area=area, img=bgr, align=True, expand_percentage=0,
                                  width_border=0, height_border=0, detector_backend="dlib").img
    face = preprocessing.resize_image(img=face / 255, target_size=(150, 150))
    return np.asarray(recognizer.forward(preprocessing.normalize_input(img=face, normalization="base")), dtype=np.float32)


def test_dlib_path_gives_deepfaces_detections_and_vectors_on_every_test_photo(deepface_dlib):
    detector, recognizer = deepface_dlib
    pipeline = get_pipeline("Dlib", "dlib")
    faces_compared, worst = 0, 0.0
    for rgb in _photos():
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        theirs = detector.detect_faces(bgr)
        ours = pipeline.detector.detect_faces(bgr)
        assert [(a.x, a.y, a.w, a.h, a.left_eye, a.right_eye) for a in ours] == [
            (a.x, a.y, a.w, a.h, a.left_eye, a.right_eye) for a in theirs
        ]
        assert [a.confidence for a in ours] == pytest.approx([a.confidence for a in theirs], abs=1e-9)
        if not theirs:
            continue
        # The pipeline's two embeddings (FacePipeline.faces) against DeepFace's on the same faces.
        chips, _ = dlib_chips(rgb, ours)
        expected = np.asarray(recognizer.model.model.compute_face_descriptor(chips), dtype=np.float32)
        deltas = [np.abs(pipeline.recognizer.descriptors(chips) - expected).max()]
        crops, kept = deepface_crops(bgr, ours, detector="dlib", input_shape=pipeline.recognizer.input_shape)
        assert len(kept) == len(ours)
        ours_on_crops = pipeline._embed(crops)
        for area, vector in zip(theirs, ours_on_crops, strict=True):
            deltas.append(np.abs(vector - _deepface_crop_vector(bgr, area, recognizer)).max())
        worst = max(worst, *map(float, deltas))
        faces_compared += 2 * len(ours)
    print(f"{faces_compared} face vectors compared, max |delta| {worst:.2e}")
    assert worst <= TOLERANCE
    assert faces_compared >= 100  # the test photos hold ~60 single faces and a few group photos


def test_dlib_domains_build_no_deepface_client():
    pipeline = get_pipeline("Dlib", "dlib")

    assert type(pipeline.detector).__module__ == "faces.dlib_models"
    assert type(pipeline.recognizer).__module__ == "faces.dlib_models"


def _detections(detector, image: np.ndarray) -> list:
    boxes, scores, indices = detector.run(image, 1, -0.5)  # below the threshold too: every candidate
    return [((b.left(), b.top(), b.right(), b.bottom()), s, i) for b, s, i in zip(boxes, scores, indices, strict=True)]


def test_saved_detector_is_dlibs_own_and_is_loaded_instead_of_rebuilt(settings, tmp_path, monkeypatch):
    """dlib's frontal face detector, kept in dlib's format under the weights folder, detects exactly
    what ``dlib.get_frontal_face_detector()`` does (boxes, scores, sub-detectors), and a process that
    finds the file loads it instead of paying dlib's ~1 s build."""
    import dlib

    from faces import dlib_models

    settings.DEEPFACE_HOME = tmp_path
    built = dlib.get_frontal_face_detector()
    first = dlib_models.frontal_face_detector()  # no file yet: built, and saved for the next process
    assert dlib_models.detector_path().is_file()
    monkeypatch.setattr(dlib, "get_frontal_face_detector", lambda: pytest.fail("rebuilt despite the saved file"))
    loaded = dlib_models.frontal_face_detector()

    for image in _photos():
        expected = _detections(built, image)
        assert _detections(first, image) == expected
        assert _detections(loaded, image) == expected


def test_detector_is_built_where_the_weights_folder_is_read_only(settings, tmp_path):
    from faces import dlib_models

    folder = tmp_path / ".deepface" / "weights"
    folder.mkdir(parents=True)
    folder.chmod(0o555)
    settings.DEEPFACE_HOME = tmp_path
    try:
        detector = dlib_models.frontal_face_detector()
    finally:
        folder.chmod(0o755)
    if os.geteuid() != 0:  # root writes anyway
        assert not dlib_models.detector_path().exists()
    assert detector.run(np.zeros((80, 80, 3), dtype=np.uint8), 0)[0] is not None
