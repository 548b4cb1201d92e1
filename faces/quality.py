"""How usable one detected face is: its size, sharpness, pose and detection confidence, and the
issues it has against a quality bar.

Measurements (``face_quality``), all pure functions of the RGB image, the box, the landmarks and
the detector's confidence:

- ``size``: the box's shorter side in the photo's own pixels (not the pixels detection ran at).
- ``sharpness``: variance of the Laplacian of the grey face crop resized to ``SHARPNESS_SIDE``
  pixels square, so that the same face scores the same at any resolution (a bigger crop of the
  same face would otherwise have smoother pixel-to-pixel steps and score lower).
- ``yaw`` / ``roll``: degrees, from dlib's 5 landmarks when the detector gives them (points 0, 1:
  the corners of the eye on the image's right; 2, 3: the eye on the image's left; 4: the base of
  the nose), else None (unknown, and never an issue). Roll is the angle of the line from the
  image-left eye to the image-right eye (positive: clockwise on screen). Yaw comes from how far the
  nose base sits from the eyes' midpoint along that line, as a share ``r`` of half the eye
  distance: for a head turned by ``yaw`` the eyes' half distance shrinks with cos(yaw) and the
  nose base, about ``NOSE_DEPTH`` half-eye-distances in front of the eyes, moves with sin(yaw), so
  ``yaw = atan(r / NOSE_DEPTH)`` (positive: the nose points to the image's right). A rough
  estimate (±10°), enough to tell a frontal face from a profile.
- ``detection_confidence``: the detector's own score, reported as it is.

Issues (``quality_issues``) against a ``QualityBar``; a bar of 0 turns its check off:

- ``too_small``: ``size`` < ``min_face_size``;
- ``blurry``: ``sharpness`` < ``min_sharpness``;
- ``profile``: ``|yaw|`` > ``max_yaw`` (only when the landmarks are known).

Roll is reported and is no issue: alignment rotates the eyes level before the recognizer sees the
face. Detection confidence is reported and is no issue: dlib's HOG detector only reports faces
over its own score threshold, and its score is not comparable across detectors.

The default bar was measured (this module, dlib detector, photos scaled to 640 px; the landmarks
from dlib's 5-point predictor) on the 64 test photos (tests/data/faces, 68 faces, with the group
photos couple.jpg and selfie-many-people.jpg) and on 99 eval-dev photos (91 faces of single-person
identity photos, 43 faces of low-resolution group photos, 500 px wide):

- size (min / 5th pct / median): tests 71 / 89 / 185 px; eval-dev identities 62 / 204 / 321;
  eval-dev groups 36 / 36 / 43. dlib's HOG window is 80 px, 40 px at its one upsampling, so 36 px
  boxes are the smallest it reports; a face that small is mostly interpolation in the
  recognizer's 150 px crop. Accuracy against size was measured directly (bench/research_quality.py,
  bench/results/eval-research.md: query faces of the eval-dev identities shrunk step by step): known
  people named right held at 0.94-0.96 down to 32 px boxes and fell to 0.86, 0.80, 0.61 at 28, 24
  and 20 px, the smaller faces mostly rejected rather than misnamed. ``MIN_FACE_SIZE`` = 32 is where
  answers stop being reliable; it keeps every enrolment-type photo (the smallest is 62) and every
  face dlib's HOG reports at 640 px in.
- sharpness (min / 5th pct / median): tests 88 / 132 / 324; identities 1.3 / 147 / 292 (the 1.3
  is a false detection in a background); groups 7.5 / 8.8 / 18 (small faces resized up to 128 px
  are soft). The same photos blurred by a Gaussian of radius 3 px at 640 px: tests median 9.5,
  eval-dev median 2.5. ``MIN_SHARPNESS`` = 10 is far below the sharpest 95 % of portrait faces
  (132-147), keeps every real face of at least 40 px in, and flags half of the radius-3 blurs and
  every heavier one.
- |yaw| (5th pct / median / 95th pct / max): tests 0.9 / 8 / 27 / 55°; eval-dev 1.7 / 16 / 46 /
  52°. ``MAX_YAW`` = 60° keeps every measured face in (dlib's frontal detector seldom fires past
  that) and flags a face whose nose base lies beyond an eye, a profile. |roll|: at most 17° (tests)
  and 26° (eval-dev).
- detection confidence: DeepFace clips dlib's HOG score to 0-1; 1.0 for 95 % of the faces.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

SHARPNESS_SIDE = 128  # the grey crop's side, pixels, before the Laplacian
NOSE_DEPTH = 0.55  # nose base in front of the eyes, in half eye distances (anthropometric average)

MIN_FACE_SIZE = 32
MIN_SHARPNESS = 10.0
MAX_YAW = 60.0

ISSUES = ("too_small", "blurry", "profile")


@dataclass(frozen=True)
class QualityBar:
    """The bar a face must meet to be matched or searched; 0 turns a check off."""

    min_face_size: int = MIN_FACE_SIZE
    min_sharpness: float = MIN_SHARPNESS
    max_yaw: float = MAX_YAW


NO_BAR = QualityBar(min_face_size=0, min_sharpness=0.0, max_yaw=0.0)


@dataclass(frozen=True)
class FaceQuality:
    size: int  # the box's shorter side, in the photo's pixels
    sharpness: float  # variance of the Laplacian of the grey face at SHARPNESS_SIDE px
    yaw: float | None  # degrees; None: no landmarks
    roll: float | None
    detection_confidence: float

    def issues(self, bar: QualityBar) -> list[str]:
        return quality_issues(self, bar)

    def as_dict(self, bar: QualityBar) -> dict:
        """The stored and answered record: the measurements and the issues against ``bar``."""
        return {**asdict(self), "issues": self.issues(bar)}


def face_quality(
    rgb: np.ndarray, box: dict[str, int], *, landmarks: list | None, confidence: float, scale: float = 1.0
) -> FaceQuality:
    """The quality of the face in ``box`` of ``rgb`` (box and landmarks in ``rgb``'s pixels);
    ``scale`` is ``rgb``'s size over the photo's, so that ``size`` is in the photo's pixels."""
    yaw, roll = pose(landmarks)
    return FaceQuality(
        size=int(round(min(box["w"], box["h"]) / (scale or 1.0))),
        sharpness=round(sharpness(rgb, box), 2),
        yaw=None if yaw is None else round(yaw, 1),
        roll=None if roll is None else round(roll, 1),
        detection_confidence=round(float(confidence), 4),
    )


def sharpness(rgb: np.ndarray, box: dict[str, int]) -> float:
    """Variance of the 4-neighbour Laplacian of the grey face crop at SHARPNESS_SIDE px square."""
    x, y, w, h = box["x"], box["y"], box["w"], box["h"]
    crop = rgb[max(0, y) : y + h, max(0, x) : x + w]
    if crop.size == 0:
        return 0.0
    grey = Image.fromarray(np.ascontiguousarray(crop)).convert("L")
    grey = grey.resize((SHARPNESS_SIDE, SHARPNESS_SIDE), Image.Resampling.BILINEAR)
    g = np.asarray(grey, dtype=np.float64)
    laplacian = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return float(laplacian.var())


def pose(landmarks: list | None) -> tuple[float | None, float | None]:
    """(yaw, roll) in degrees from dlib's 5 landmarks, or (None, None) without them."""
    if landmarks is None or len(landmarks) != 5:
        return None, None
    points = np.asarray(landmarks, dtype=np.float64)
    right_eye = points[0:2].mean(axis=0)  # the eye on the image's right
    left_eye = points[2:4].mean(axis=0)
    axis = right_eye - left_eye
    half = float(np.linalg.norm(axis)) / 2
    if half == 0:
        return None, None
    roll = math.degrees(math.atan2(axis[1], axis[0]))
    offset = float(np.dot(points[4] - (left_eye + right_eye) / 2, axis / (2 * half))) / half
    yaw = math.degrees(math.atan(offset / NOSE_DEPTH))
    return yaw, roll


def quality_issues(quality: FaceQuality, bar: QualityBar) -> list[str]:
    issues = []
    if bar.min_face_size and quality.size < bar.min_face_size:
        issues.append("too_small")
    if bar.min_sharpness and quality.sharpness < bar.min_sharpness:
        issues.append("blurry")
    if bar.max_yaw and quality.yaw is not None and abs(quality.yaw) > bar.max_yaw:
        issues.append("profile")
    return issues
