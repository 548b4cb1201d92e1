"""Each detected face cropped and aligned as the recognizer expects it.

A recognizer is only as good as the crop it is fed, so a domain's vectors must all come from the
same preprocessing. ``deepface_crops`` is DeepFace's own (``extract_face`` alignment on the eyes,
``resize_image``, ``normalize_input``): embeddings stay compatible with vectors DeepFace computed
elsewhere, for example a PKL gallery migrated with ``import_pkl``. Other alignments (dlib's
5-point face chip) belong beside it.
"""

from __future__ import annotations

import numpy as np


def deepface_crops(
    bgr: np.ndarray, areas: list, *, detector: str, input_shape: tuple[int, int]
) -> tuple[list[np.ndarray], list]:
    """The recognizer's input for each detected area of ``bgr`` (H x W x 3) that yields a crop,
    and the areas kept. ``input_shape`` is the recognizer's, as DeepFace gives it.

    DeepFace pads the whole image with a 50 % black border before detecting, so that alignment
    never rotates a face out of the frame; aligning each face on its own padded sub-image
    (``extract_face`` with zero border) protects the faces just the same, at a quarter of the
    pixels for the detector to scan."""
    from deepface.modules import detection, preprocessing

    crops, kept = [], []
    for area in areas:
        face = detection.extract_face(
            facial_area=area,
            img=bgr,
            align=True,
            expand_percentage=0,
            width_border=0,
            height_border=0,
            detector_backend=detector,
        ).img
        if face.shape[0] == 0 or face.shape[1] == 0:
            continue
        face = face / 255 if face.max() > 1 else face
        face = preprocessing.resize_image(img=face, target_size=(input_shape[1], input_shape[0]))
        crops.append(preprocessing.normalize_input(img=face, normalization="base"))
        kept.append(area)
    return crops, kept
