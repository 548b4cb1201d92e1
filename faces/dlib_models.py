"""dlib's HOG face detector and ResNet recognizer, called directly: a process that serves only Dlib
domains runs on dlib, numpy and Pillow, without DeepFace and so without TensorFlow (~100 MB and
seconds of start-up per worker).

Each class does exactly what DeepFace's own client does (deepface 0.0.103,
``models/face_detection/Dlib.py`` and ``models/facial_recognition/dlib/Dlib.py``) and offers the
same interface (``detect_faces``; ``input_shape`` and ``forward``), so that a domain's vectors are the
ones DeepFace computes (tests/faces/test_dlib_models.py compares them on the test photos).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faces.alignment import shape_predictor
from faces.models_zoo import ModelUnavailable, weights_dir

RESNET_WEIGHTS = "dlib_face_recognition_resnet_model_v1.dat"
# DeepFace runs the HOG detector with one upsampling step: faces down to ~40 px instead of ~80.
UPSAMPLE = 1

logger = logging.getLogger(__name__)


def detector_path() -> Path:
    """Where dlib's frontal face detector is kept in dlib's own format (per dlib version)."""
    import dlib

    return weights_dir() / f"dlib_frontal_face_detector-{dlib.__version__}.svm"


def frontal_face_detector():
    """dlib's HOG frontal face detector, the same object as ``dlib.get_frontal_face_detector()``.

    dlib builds that one from a string compiled into the library, which costs ~1 s of CPU in every
    process (most of a Dlib worker's start-up); saved once with dlib's own serialization (150 KB
    next to the other weights, written by ``manage.py facerec_models --install`` or by the first
    process), it loads in milliseconds and detects exactly the same (tests/faces/test_dlib_models.py)."""
    import dlib

    path = detector_path()
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError:  # unreadable: rebuilt and written again below
            logger.warning("could not load %s; rebuilding the detector", path, exc_info=True)
    detector = dlib.get_frontal_face_detector()
    save_detector(detector, path)
    return detector


def save_detector(detector, path: Path) -> bool:
    """Write ``detector`` to ``path`` atomically (other processes load it meanwhile); False where the
    weights folder is read-only, which only costs each process the slower build."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        detector.save(str(partial))
        os.replace(partial, path)
    except (OSError, RuntimeError):
        logger.info("could not write %s; the detector is built in each process", path, exc_info=True)
        partial.unlink(missing_ok=True)
        return False
    return True


@dataclass(frozen=True)
class FaceArea:
    """A detected face, with the attributes of DeepFace's ``FacialAreaRegion`` the pipeline reads."""

    x: int
    y: int
    w: int
    h: int
    confidence: float
    left_eye: tuple[int, int] | None = None  # the person's left eye (on the image's right)
    right_eye: tuple[int, int] | None = None


class DlibHogDetector:
    """dlib's frontal face detector (HOG), with the eyes from the 5-point shape predictor."""

    def __init__(self) -> None:
        self.detector = frontal_face_detector()
        self.predictor = shape_predictor()  # the one the chips use: loaded once per process

    def detect_faces(self, img: np.ndarray) -> list[FaceArea]:
        """Every face of ``img`` (H x W x 3 uint8, DeepFace passes BGR), boxes clipped to the image."""
        detections, scores, _ = self.detector.run(img, UPSAMPLE)
        return [self._area(img, detection, score) for detection, score in zip(detections, scores, strict=True)]

    def _area(self, img: np.ndarray, detection, score: float) -> FaceArea:
        y = int(max(0, detection.top()))
        x = int(max(0, detection.left()))
        shape = self.predictor(img, detection)
        points = [(shape.part(i).x, shape.part(i).y) for i in range(4)]
        return FaceArea(
            x=x,
            y=y,
            w=int(min(detection.right(), img.shape[1]) - x),
            h=int(min(detection.bottom(), img.shape[0]) - y),
            # HOG scores are > 0 but not capped at 1 (seen up to ~3.5); DeepFace clips them.
            confidence=min(max(0.0, float(score)), 1.0),
            left_eye=_midpoint(points[0], points[1]),
            right_eye=_midpoint(points[2], points[3]),
        )


def _midpoint(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return int((a[0] + b[0]) // 2), int((a[1] + b[1]) // 2)


class DlibResNet:
    """dlib's face recognition ResNet (128-d), on dlib's chip or on DeepFace's crop."""

    model_name = "Dlib"
    input_shape = (150, 150)
    output_shape = 128

    def __init__(self) -> None:
        import dlib

        path = weights_dir() / RESNET_WEIGHTS
        if not path.is_file():
            raise ModelUnavailable(f"Dlib needs {RESNET_WEIGHTS} in {weights_dir()} (manage.py facerec_models --install)")
        self.resnet = dlib.face_recognition_model_v1(str(path))

    def descriptors(self, chips: list[np.ndarray]) -> np.ndarray:
        """One vector per dlib face chip (150 x 150 x 3 uint8 RGB), in one batch."""
        return np.asarray([np.asarray(v, dtype=np.float32) for v in self.resnet.compute_face_descriptor(chips)])

    def forward(self, img: np.ndarray) -> list:
        """DeepFace's ``DlibClient.forward``: crops in BGR scaled to [0, 1], as DeepFace prepares them."""
        if img.ndim == 3:
            img = np.expand_dims(img, axis=0)
        img = img[:, :, :, ::-1]
        if img.max() <= 1:
            img = img * 255
        vectors = [np.array(v).tolist() for v in self.resnet.compute_face_descriptor(img.astype(np.uint8))]
        return vectors[0] if len(vectors) == 1 else vectors
