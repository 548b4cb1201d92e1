"""The face pipeline: photo bytes (or an RGB image) in, every face's box, detection confidence and
embedding out.

DeepFace is the model zoo: its detector and recognizer classes do the work, so any DeepFace model
whose weights are present runs here unchanged. dlib's detector and ResNet are called directly
(faces.dlib_models, the same computation as DeepFace's clients), so that a process whose domains
are all Dlib never imports DeepFace or TensorFlow; DeepFace is imported when a domain's model or
detector is one of its own. We call the models more directly than ``DeepFace.represent`` does, for speed:

- photos are decoded at reduced size and scaled to at most ``FACEREC_MAX_IMAGE_SIDE`` before
  detection (faces.images); boxes are mapped back to the photo's own pixels.
- detection runs on the image as it is, not on DeepFace's copy padded by 50 % on every side: each
  face is aligned on its own padded sub-image instead (faces.alignment).
- each face is aligned the way the domain's vectors are (faces.alignment): dlib's 5-point chip fed
  straight to dlib's ResNet (``compute_face_descriptor``), or DeepFace's crop fed to DeepFace's
  recognizer. ``alignment`` defaults to the model's native one (models_zoo), so callers that store
  or search vectors pass the domain's.
- all faces of an image go through the recognizer in one batch.
- models are built once per process (``get_pipeline``) and can be warmed before traffic.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np

from faces.alignment import deepface_crops, detector_landmarks, dlib_chips, dlib_shapes, shape_points, shape_predictor
from faces.dlib_models import DlibHogDetector, DlibResNet
from faces.images import DecodedImage, decode_image
from faces.models_zoo import DLIB_CHIP, MODELS, check_alignment, check_available, native_alignment
from faces.quality import FaceQuality, face_quality


@dataclass(frozen=True)
class Face:
    box: dict[str, int]  # x, y, w, h in the coordinates of the image passed in
    confidence: float
    embedding: np.ndarray
    # [x, y] points in the same pixels as ``box``: dlib's 5 (shape predictor order) or a DeepFace
    # detector's 2 eyes, None when the detector gives none (faces.alignment)
    landmarks: list[list[int]] | None = None
    quality: FaceQuality | None = None  # faces.quality; every face the pipeline finds has one

    @property
    def area(self) -> int:
        return self.box["w"] * self.box["h"]


@dataclass
class StageTimer:
    """Milliseconds spent per stage, reported as ``timings_ms`` and exported as metrics."""

    stages: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, started: float) -> None:
        self.stages[stage] = self.stages.get(stage, 0.0) + (time.perf_counter() - started) * 1000


class FacePipeline:
    def __init__(self, model_name: str, detector: str):
        check_available(model_name, detector)
        self.model_name = model_name
        self.detector_name = detector
        self.detector = build_detector(detector)
        self.recognizer = build_recognizer(model_name)
        if DLIB_CHIP in MODELS[model_name].alignments or detector == "dlib":
            shape_predictor()  # built with the models (and so warmed), not in a request

    def faces(
        self,
        rgb: np.ndarray,
        *,
        alignment: str | None = None,
        max_faces: int | None = None,
        timer: StageTimer | None = None,
    ) -> list[Face]:
        """Every face in ``rgb`` (H x W x 3 uint8), largest first, at most ``max_faces``, aligned
        with ``alignment`` (default: the model's native one)."""
        alignment = alignment or native_alignment(self.model_name)
        check_alignment(self.model_name, alignment)
        timer = timer or StageTimer()
        started = time.perf_counter()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        areas = self.detector.detect_faces(bgr)
        areas = sorted(areas, key=lambda area: area.w * area.h, reverse=True)[: max_faces or None]
        timer.add("detect", started)
        if not areas:
            return []
        started = time.perf_counter()
        if alignment == DLIB_CHIP:
            crops, landmarks = dlib_chips(rgb, areas)
            kept = areas
        else:
            crops, kept = deepface_crops(
                bgr, areas, detector=self.detector_name, input_shape=self.recognizer.input_shape
            )
            landmarks = self._landmarks(rgb, kept)
        timer.add("align", started)
        if not crops:
            return []
        started = time.perf_counter()
        embeddings = self._embed_chips(crops) if alignment == DLIB_CHIP else self._embed(crops)
        timer.add("embed", started)
        faces = [
            Face(box=_box(area, bgr.shape), confidence=float(area.confidence or 0.0), embedding=vector, landmarks=points)
            for area, vector, points in zip(kept, embeddings, landmarks, strict=True)
        ]
        return [_with_quality(rgb, face) for face in faces]

    def _landmarks(self, rgb: np.ndarray, areas: list) -> list[list[list[int]] | None]:
        # The dlib detector ran the shape predictor already but keeps only two eye centres.
        if self.detector_name == "dlib":
            return [shape_points(shape) for shape in dlib_shapes(rgb, areas)]
        return [detector_landmarks(area) for area in areas]

    def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        output = self.recognizer.forward(np.concatenate(crops, axis=0))
        vectors = np.asarray(output, dtype=np.float32)
        return vectors.reshape(len(crops), -1)

    def _embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        # Only Dlib takes the chip (models_zoo), and Dlib is always dlib's own ResNet here.
        return self.recognizer.descriptors(chips)


def build_detector(name: str):
    """dlib's HOG detector directly; any other detector through DeepFace (imported only then)."""
    if name == "dlib":
        return DlibHogDetector()
    from deepface.modules import modeling

    return modeling.build_model(task="face_detector", model_name=name)


def build_recognizer(model_name: str):
    """dlib's ResNet directly; any other recognizer through DeepFace (imported only then)."""
    if model_name == "Dlib":
        return DlibResNet()
    from deepface.modules import modeling

    return modeling.build_model(task="facial_recognition", model_name=model_name)


def _with_quality(rgb: np.ndarray, face: Face) -> Face:
    quality = face_quality(rgb, face.box, landmarks=face.landmarks, confidence=face.confidence)
    return replace(face, quality=quality)


def _box(area, shape: tuple[int, ...]) -> dict[str, int]:
    height, width = shape[:2]
    x, y = max(0, int(area.x)), max(0, int(area.y))
    return {"x": x, "y": y, "w": max(0, min(width - x, int(area.w))), "h": max(0, min(height - y, int(area.h)))}


_pipelines: dict[tuple[str, str], FacePipeline] = {}
_lock = threading.Lock()


def get_pipeline(model_name: str, detector: str) -> FacePipeline:
    """The process-wide pipeline for a model/detector pair, built on first use."""
    key = (model_name, detector)
    pipeline = _pipelines.get(key)
    if pipeline is None:
        with _lock:
            pipeline = _pipelines.get(key)
            if pipeline is None:
                pipeline = _pipelines[key] = FacePipeline(model_name, detector)
    return pipeline


def loaded_pipelines() -> list[tuple[str, str]]:
    return list(_pipelines)


def detect_faces(
    data: bytes,
    *,
    model_name: str,
    detector: str,
    alignment: str | None = None,
    max_faces: int | None = None,
    timer: StageTimer | None = None,
) -> tuple[DecodedImage, list[Face]]:
    """Decode a photo and find its faces, largest first, with boxes and landmarks in the photo's
    own pixels, aligned with ``alignment`` (default: the model's native one; a caller that stores or
    searches vectors passes its domain's). Raises ImageRejected for bytes that are not a usable
    image, ModelUnavailable for missing weights or an alignment the model cannot take."""
    timer = timer or StageTimer()
    started = time.perf_counter()
    image = decode_image(data)
    timer.add("decode", started)
    faces = get_pipeline(model_name, detector).faces(image.rgb, alignment=alignment, max_faces=max_faces, timer=timer)
    return image, [_to_original(face, image.scale) for face in faces]


def _to_original(face: Face, scale: float) -> Face:
    if scale == 1.0:
        return face
    box = {key: int(round(value / scale)) for key, value in face.box.items()}
    landmarks = None
    if face.landmarks is not None:
        landmarks = [[int(round(x / scale)), int(round(y / scale))] for x, y in face.landmarks]
    quality = face.quality and replace(face.quality, size=min(box["w"], box["h"]))  # in the photo's pixels
    return replace(face, box=box, landmarks=landmarks, quality=quality)
