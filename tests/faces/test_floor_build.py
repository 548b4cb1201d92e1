"""The installed dlib computes what dlib-bin computed: same boxes, same vectors.

The fixture (tests/data/faces/floor_reference.npz) was computed with the ``dlib-bin`` wheel
(20.0.1.post1, no BLAS) before any other build (deploy/build_dlib.py) replaced it: for every test
photo, dlib's HOG detector with one upsampling step (as DeepFace's ``dlib`` detector runs it), the
5-point shape, the face chip and the ResNet's 128-d vector of each face. Whatever dlib is installed
(dlib-bin, or the faster build), the boxes must be identical and every vector component within 1e-4.

    python -m tests.faces.test_floor_build --write   # regenerate (only with dlib-bin installed)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
REFERENCE = FACES / "floor_reference.npz"
TOLERANCE = 1e-4
UPSAMPLE = 1


def _rgb(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return np.ascontiguousarray(np.asarray(ImageOps.exif_transpose(image).convert("RGB")))


def compute(paths: list[Path]) -> dict[str, np.ndarray]:
    """Per photo, in order: boxes (left, top, right, bottom) and vectors, stacked, with the photo index."""
    import dlib

    from faces.alignment import CHIP_PADDING, CHIP_SIZE, shape_predictor
    from faces.models_zoo import weights_dir

    detector = dlib.get_frontal_face_detector()
    predictor = shape_predictor()
    resnet = dlib.face_recognition_model_v1(str(weights_dir() / "dlib_face_recognition_resnet_model_v1.dat"))
    photo, boxes, vectors = [], [], []
    for index, path in enumerate(paths):
        rgb = _rgb(path)
        rects = list(detector(rgb, UPSAMPLE))
        shapes = [predictor(rgb, rect) for rect in rects]
        chips = [dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING) for shape in shapes]
        if chips:
            vectors.extend(np.asarray(v, dtype=np.float32) for v in resnet.compute_face_descriptor(chips))
        for rect in rects:
            photo.append(index)
            boxes.append([rect.left(), rect.top(), rect.right(), rect.bottom()])
    return {
        "photo": np.asarray(photo, dtype=np.int32),
        "boxes": np.asarray(boxes, dtype=np.int32).reshape(-1, 4),
        "vectors": np.asarray(vectors, dtype=np.float32).reshape(-1, 128),
    }


def _photos() -> list[Path]:
    return sorted(FACES.glob("*.jpg"))


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files} | {"files": [str(f) for f in data["files"]]}


@pytest.fixture(scope="module")
def computed(reference):
    return compute([FACES / name for name in reference["files"]])


def test_the_fixture_covers_every_test_photo(reference):
    assert reference["files"] == [path.name for path in _photos()]
    assert len(reference["vectors"]) >= len(reference["files"])  # about one face or more per photo


def test_detections_are_identical(reference, computed):
    assert np.array_equal(computed["photo"], reference["photo"])
    assert np.array_equal(computed["boxes"], reference["boxes"])


def test_vectors_agree_within_float_noise(reference, computed):
    assert computed["vectors"].shape == reference["vectors"].shape
    delta = float(np.max(np.abs(computed["vectors"] - reference["vectors"])))
    assert delta <= TOLERANCE, f"max |delta| {delta:.2e} > {TOLERANCE}"


def test_the_installed_build_is_the_one_the_recipe_says():
    """After ``make install`` dlib is the BLAS build, unless its build failed and dlib-bin stayed."""
    from importlib.metadata import PackageNotFoundError, version

    import dlib

    try:
        built = version("dlib")
    except PackageNotFoundError:
        built = None
    if built is not None and "+blas" in built:
        assert dlib.DLIB_USE_BLAS
        assert Path(dlib.__file__).parent.parent.joinpath("dlib_blas.libs").is_dir()
    else:
        assert version("dlib-bin") == "20.0.1.post1"
        assert not dlib.DLIB_USE_BLAS
    assert dlib.__version__ == "20.0.1"


if __name__ == "__main__" and "--write" in sys.argv:
    import django

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    django.setup()
    import dlib

    assert not dlib.DLIB_USE_BLAS, "the reference is dlib-bin's: write it with dlib-bin installed"
    result = compute(_photos())
    np.savez_compressed(REFERENCE, files=np.asarray([p.name for p in _photos()]), **result)
    print(f"{REFERENCE}: {len(result['vectors'])} faces in {len(_photos())} photos")
