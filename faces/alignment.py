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

    DeepFace's ``extract_face`` (align on the eyes, no expansion), ``resize_image`` and the "base"
    ``normalize_input`` (none), reproduced call for call with OpenCV so that a Dlib domain on
    DeepFace's crop gets DeepFace's vectors without importing DeepFace (tests/faces/test_dlib_models.py).
    DeepFace pads the whole image with a 50 % black border before detecting, so that alignment
    never rotates a face out of the frame; aligning each face on its own padded sub-image
    protects the faces just the same, at a quarter of the pixels for the detector to scan."""
    crops, kept = [], []
    for area in areas:
        face = _deepface_face(bgr, area, detector=detector)
        if face.shape[0] == 0 or face.shape[1] == 0:
            continue
        face = face / 255 if face.max() > 1 else face
        crops.append(_deepface_resize(face, (input_shape[1], input_shape[0])))
        kept.append(area)
    return crops, kept


def _deepface_face(bgr: np.ndarray, area, *, detector: str) -> np.ndarray:
    """``deepface.modules.detection.extract_face(align=True, expand_percentage=0)``'s image."""
    height, width = bgr.shape[:2]
    x, y = int(area.x), int(area.y)
    w = max(0, min(width, x + int(area.w)) - max(0, x))
    h = max(0, min(height, y + int(area.h)) - max(0, y))
    x, y = max(0, x), max(0, y)
    left_eye, right_eye = getattr(area, "left_eye", None), getattr(area, "right_eye", None)
    if detector != "opencv" and (left_eye is None or right_eye is None):
        left_eye, right_eye = _opencv_eyes(bgr[y : y + h, x : x + w], x, y, left_eye, right_eye)
    sub, relative_x, relative_y = _sub_image(bgr, x, y, w, h)
    aligned, angle = _rotate_to_eyes(sub, left_eye, right_eye)
    x1, y1, x2, y2 = _project(relative_x, relative_y, relative_x + w, relative_y + h, angle, sub.shape[:2])
    return aligned[int(y1) : int(y2), int(x1) : int(x2)]


def _opencv_eyes(face: np.ndarray, x: int, y: int, left_eye, right_eye):
    # DeepFace asks its opencv detector for the eyes a detector did not give (ssd, yolo...): only
    # detectors of DeepFace's own get here, so DeepFace is loaded already.
    from deepface.modules import modeling

    found_left, found_right = modeling.build_model(task="face_detector", model_name="opencv").find_eyes(face)
    if left_eye is None and found_left is not None:
        left_eye = (int(found_left[0]) + x, int(found_left[1]) + y)
    if right_eye is None and found_right is not None:
        right_eye = (int(found_right[0]) + x, int(found_right[1]) + y)
    return left_eye, right_eye


def _sub_image(img: np.ndarray, x: int, y: int, w: int, h: int) -> tuple[np.ndarray, int, int]:
    """The face with half its size again on every side, black where that leaves the image."""
    relative_x, relative_y = int(0.5 * w), int(0.5 * h)
    x1, y1, x2, y2 = x - relative_x, y - relative_y, x + w + relative_x, y + h + relative_y
    if x1 >= 0 and y1 >= 0 and x2 <= img.shape[1] and y2 <= img.shape[0]:
        return img[y1:y2, x1:x2], relative_x, relative_y
    cropped = img[max(0, y1) : min(img.shape[0], y2), max(0, x1) : min(img.shape[1], x2)]
    sub = np.zeros((h + 2 * relative_y, w + 2 * relative_x, img.shape[2]), dtype=img.dtype)
    start_x, start_y = max(0, relative_x - x), max(0, relative_y - y)
    sub[start_y : start_y + cropped.shape[0], start_x : start_x + cropped.shape[1]] = cropped
    return sub, relative_x, relative_y


def _rotate_to_eyes(img: np.ndarray, left_eye, right_eye) -> tuple[np.ndarray, float]:
    if left_eye is None or right_eye is None or img.shape[0] == 0 or img.shape[1] == 0:
        return img, 0
    import cv2  # OpenCV's bicubic warp is DeepFace's: the crop must be the same to the pixel

    angle = float(np.degrees(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])))
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D((w // 2, h // 2), angle, 1.0)
    rotated = cv2.warpAffine(
        img, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)
    )
    return rotated, angle


def _project(x1: int, y1: int, x2: int, y2: int, angle: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The face's box in the rotated sub-image (DeepFace's ``project_facial_area``)."""
    direction = 1 if angle >= 0 else -1
    angle = abs(angle) % 360
    if angle == 0:
        return x1, y1, x2, y2
    radians = angle * np.pi / 180
    height, width = size
    x, y = (x1 + x2) / 2 - width / 2, (y1 + y2) / 2 - height / 2
    x_new = x * np.cos(radians) + y * direction * np.sin(radians) + width / 2
    y_new = -x * direction * np.sin(radians) + y * np.cos(radians) + height / 2
    half_w, half_h = (x2 - x1) / 2, (y2 - y1) / 2
    return (
        max(int(x_new - half_w), 0),
        max(int(y_new - half_h), 0),
        min(int(x_new + half_w), width),
        min(int(y_new + half_h), height),
    )


def _deepface_resize(img: np.ndarray, target_size: tuple[int, int]) -> np.ndarray:
    """DeepFace's ``resize_image``: scaled to fit, centred on black, 1 x H x W x 3 float32 in [0, 1]."""
    import cv2

    factor = min(target_size[0] / img.shape[0], target_size[1] / img.shape[1])
    img = cv2.resize(img, (int(img.shape[1] * factor), int(img.shape[0] * factor)))
    diff_0, diff_1 = target_size[0] - img.shape[0], target_size[1] - img.shape[1]
    img = np.pad(img, ((diff_0 // 2, diff_0 - diff_0 // 2), (diff_1 // 2, diff_1 - diff_1 // 2), (0, 0)), "constant")
    if img.shape[0:2] != target_size:
        img = cv2.resize(img, target_size)
    img = np.expand_dims(np.asarray(img, dtype=np.float32), axis=0)
    if img.max() > 1:
        img = (img.astype(np.float32) / 255.0).astype(np.float32)
    return img
