"""Each detected face cropped and aligned as the recognizer expects it, and its landmarks.

A recognizer is only as good as the crop it is fed, so a domain's vectors must all come from the
same preprocessing (the models zoo names the alignments, faces.models_zoo.ALIGNMENTS):

- ``dlib_chips`` (``dlib_chip``): dlib's 5-point landmarks (``shape_predictor_5_face_landmarks``)
  and ``dlib.get_face_chip`` (150 px, padding 0.25), the crop dlib's ResNet was trained on. On our
  dev set it brought the median same-person distance from 0.054 to 0.044 and closed-set top-1 from
  0.936 to 0.997, for about 4.5 ms per face.
- ``deepface_crops`` (``deepface``): DeepFace's own (``extract_face`` alignment on the eyes,
  ``resize_image``, ``normalize_input``): embeddings stay compatible with vectors DeepFace
  computed elsewhere, for example a PKL gallery migrated with ``import_pkl``.

Landmarks are points ``[x, y]`` in the pixels of the image passed in: the 5 points of dlib's
shape predictor in its order (image-right eye outer and inner corner, image-left eye outer and
inner corner, base of the nose) wherever the shape predictor ran (the ``dlib`` detector, or the
chip alignment); otherwise the 2 eyes a DeepFace detector gives (its ``left_eye`` then
``right_eye``, the person's left and right); None when the detector gives none.
"""

from __future__ import annotations

import threading

import numpy as np

from faces.models_zoo import ModelUnavailable, weights_dir

CHIP_SIZE = 150
CHIP_PADDING = 0.25
SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"

_shape_predictor = None
_lock = threading.Lock()


def shape_predictor():
    """dlib's 5-point shape predictor, loaded once per process."""
    global _shape_predictor
    if _shape_predictor is None:
        with _lock:
            if _shape_predictor is None:
                import dlib

                path = weights_dir() / SHAPE_PREDICTOR
                if not path.is_file():
                    raise ModelUnavailable(f"the dlib face chip needs {SHAPE_PREDICTOR} in {weights_dir()}")
                _shape_predictor = dlib.shape_predictor(str(path))
    return _shape_predictor


def _rectangle(area):
    import dlib

    return dlib.rectangle(int(area.x), int(area.y), int(area.x + area.w), int(area.y + area.h))


def dlib_shapes(rgb: np.ndarray, areas: list) -> list:
    """dlib's 5-point shape of each detected area of ``rgb`` (H x W x 3 uint8, RGB)."""
    predictor = shape_predictor()
    return [predictor(rgb, _rectangle(area)) for area in areas]


def shape_points(shape) -> list[list[int]]:
    return [[int(shape.part(i).x), int(shape.part(i).y)] for i in range(shape.num_parts)]


def dlib_chips(rgb: np.ndarray, areas: list) -> tuple[list[np.ndarray], list[list[list[int]]]]:
    """dlib's face chip of each detected area of ``rgb`` (RGB, 150 x 150 x 3 uint8: the input of
    ``face_recognition_model_v1.compute_face_descriptor``) and its 5 landmarks."""
    import dlib

    shapes = dlib_shapes(rgb, areas)
    chips = [dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING) for shape in shapes]
    return chips, [shape_points(shape) for shape in shapes]


def detector_landmarks(area) -> list[list[int]] | None:
    """The eyes a DeepFace detector found (``left_eye``, ``right_eye``), or None."""
    eyes = [getattr(area, "left_eye", None), getattr(area, "right_eye", None)]
    if any(eye is None for eye in eyes):
        return None
    return [[int(eye[0]), int(eye[1])] for eye in eyes]


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
