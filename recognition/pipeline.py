"""The face pipeline: an RGB image in, every face's box, detection confidence and embedding out.

DeepFace is the model zoo: its detector and recognizer classes do the work, so any DeepFace model
whose weights are present runs here unchanged. We call them more directly than
``DeepFace.represent`` does, for speed:

- detection runs on the image as it is. DeepFace first pads the image with a 50 % black border on
  every side (so that alignment never rotates a face out of the frame), which makes the detector
  scan four times the pixels; our alignment works on each face's own padded sub-image
  (``detection.extract_face`` with zero border), which protects the faces just the same.
- all faces of an image go through the recognizer in one batch.
- models are built once per process (``get_pipeline``) and can be warmed before traffic.

The preprocessing of each face is DeepFace's own (``extract_face`` alignment, ``resize_image``,
``normalize_input``), so embeddings stay compatible with vectors DeepFace computed elsewhere
(for example a PKL gallery migrated with ``import_pkl``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from recognition.models_zoo import check_available


@dataclass(frozen=True)
class Face:
    box: dict[str, int]  # x, y, w, h in the coordinates of the image passed in
    confidence: float
    embedding: np.ndarray

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
        from deepface.modules import modeling

        self.model_name = model_name
        self.detector_name = detector
        self.detector = modeling.build_model(task="face_detector", model_name=detector)
        self.recognizer = modeling.build_model(task="facial_recognition", model_name=model_name)

    def faces(self, rgb: np.ndarray, *, max_faces: int | None = None, timer: StageTimer | None = None) -> list[Face]:
        """Every face in ``rgb`` (H x W x 3 uint8), largest first, at most ``max_faces``."""
        timer = timer or StageTimer()
        started = time.perf_counter()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        areas = self.detector.detect_faces(bgr)
        areas = sorted(areas, key=lambda area: area.w * area.h, reverse=True)[: max_faces or None]
        crops, kept = self._aligned_crops(bgr, areas)
        timer.add("detect", started)
        if not crops:
            return []
        started = time.perf_counter()
        embeddings = self._embed(crops)
        timer.add("embed", started)
        return [
            Face(box=_box(area, bgr.shape), confidence=float(area.confidence or 0.0), embedding=vector)
            for area, vector in zip(kept, embeddings, strict=True)
        ]

    def _aligned_crops(self, bgr: np.ndarray, areas: list) -> tuple[list[np.ndarray], list]:
        from deepface.modules import detection, preprocessing

        target = self.recognizer.input_shape
        crops, kept = [], []
        for area in areas:
            face = detection.extract_face(
                facial_area=area,
                img=bgr,
                align=True,
                expand_percentage=0,
                width_border=0,
                height_border=0,
                detector_backend=self.detector_name,
            ).img
            if face.shape[0] == 0 or face.shape[1] == 0:
                continue
            face = face / 255 if face.max() > 1 else face
            face = preprocessing.resize_image(img=face, target_size=(target[1], target[0]))
            crops.append(preprocessing.normalize_input(img=face, normalization="base"))
            kept.append(area)
        return crops, kept

    def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        output = self.recognizer.forward(np.concatenate(crops, axis=0))
        vectors = np.asarray(output, dtype=np.float32)
        return vectors.reshape(len(crops), -1)


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
