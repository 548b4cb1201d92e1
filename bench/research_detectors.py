"""RESEARCH, not product code: face recall and time of detector settings on group photos, and
whether each still finds the one face of every labelled identity photo.

    python -m bench.research_detectors [--data DIR] [--output var/eval-research]

Every setting gets the photo as the product decodes it (faces.images.decode_image, EXIF
orientation, RGB) at the size named: ``640`` is the product's default (FACEREC_MAX_IMAGE_SIDE,
never enlarged, so a 500 px group photo stays 500 px); ``800`` and ``1024`` scale the long side
to that size, enlarging smaller photos; ``original`` is the photo's own size. Recall uses
bench.eval_groups (IoU >= 0.5, and the centre rule for detectors that box faces differently).
Time: the fastest of ``--repeats`` runs per photo (least disturbed by other load on the machine),
then the median over photos.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.env import ROOT
from bench.eval_data import Box, load_groups, load_identities

Detect = Callable[[np.ndarray], list[Box]]  # RGB in, boxes in that image's pixels out


@dataclass(frozen=True)
class Setting:
    name: str
    side: int | None  # None: the photo's own size; 640: the product's decode (never enlarged)
    make: Callable[[], Detect]


def dlib_hog(upsample: int) -> Callable[[], Detect]:
    def make() -> Detect:
        import dlib

        detector = dlib.get_frontal_face_detector()
        return lambda rgb: [_rect_box(r) for r in detector.run(rgb, upsample)[0]]

    return make


def dlib_cnn(upsample: int) -> Callable[[], Detect]:
    def make() -> Detect:
        import dlib

        from bench.research_chip import weight_file

        detector = dlib.cnn_face_detection_model_v1(str(weight_file("mmod_human_face_detector.dat")))
        return lambda rgb: [_rect_box(d.rect) for d in detector(rgb, upsample)]

    return make


def deepface_detector(name: str) -> Callable[[], Detect]:
    """A DeepFace detector as the product's pipeline calls it (BGR in)."""

    def make() -> Detect:
        from deepface.modules import modeling

        detector = modeling.build_model(task="face_detector", model_name=name)

        def detect(rgb: np.ndarray) -> list[Box]:
            areas = detector.detect_faces(np.ascontiguousarray(rgb[:, :, ::-1]))
            return [Box(int(a.x), int(a.y), int(a.w), int(a.h)) for a in areas]

        return detect

    return make


def opencv_haar(min_neighbors: int) -> Callable[[], Detect]:
    def make() -> Detect:
        import cv2

        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

        def detect(rgb: np.ndarray) -> list[Box]:
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            return [Box(int(x), int(y), int(w), int(h)) for x, y, w, h in cascade.detectMultiScale(grey, 1.1, min_neighbors)]

        return detect

    return make


SETTINGS = [
    Setting("product: DeepFace dlib (HOG, 1 upsampling), 640 px", 640, deepface_detector("dlib")),
    Setting("dlib HOG, 640 px, 0 upsampling", 640, dlib_hog(0)),
    Setting("dlib HOG, 640 px, 1 upsampling", 640, dlib_hog(1)),
    Setting("dlib HOG, 640 px, 2 upsamplings", 640, dlib_hog(2)),
    Setting("dlib HOG, 800 px, 0 upsampling", 800, dlib_hog(0)),
    Setting("dlib HOG, 800 px, 1 upsampling", 800, dlib_hog(1)),
    Setting("dlib HOG, 1024 px, 0 upsampling", 1024, dlib_hog(0)),
    Setting("dlib HOG, 1024 px, 1 upsampling", 1024, dlib_hog(1)),
    Setting("dlib HOG, 1280 px, 0 upsampling", 1280, dlib_hog(0)),
    Setting("dlib HOG, original size, 0 upsampling", None, dlib_hog(0)),
    Setting("dlib HOG, original size, 1 upsampling", None, dlib_hog(1)),
    Setting("dlib CNN (mmod), 640 px, 0 upsampling", 640, dlib_cnn(0)),
    Setting("dlib CNN (mmod), 640 px, 1 upsampling", 640, dlib_cnn(1)),
    Setting("OpenCV Haar, DeepFace's opencv (1.1, 10 neighbours), 640 px", 640, deepface_detector("opencv")),
    Setting("OpenCV Haar (1.1, 5 neighbours), 640 px", 640, opencv_haar(5)),
    Setting("MTCNN (DeepFace mtcnn), 640 px", 640, deepface_detector("mtcnn")),
]


def prepared(data: bytes, side: int | None) -> tuple[np.ndarray, float]:
    """The RGB image for a setting and its scale from the original photo."""
    import cv2

    from faces.images import decode_image

    if side == 640:
        image = decode_image(data)
        return image.rgb, image.scale
    image = decode_image(data, max_side=100_000)
    if side is None:
        return image.rgb, 1.0
    height, width = image.rgb.shape[:2]
    scale = side / max(height, width)
    rgb = cv2.resize(image.rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)
    return rgb, scale


def timed(detect: Detect, rgb: np.ndarray, repeats: int) -> tuple[list[Box], float]:
    best, boxes = float("inf"), []
    for _ in range(repeats):
        started = time.perf_counter()
        boxes = detect(rgb)
        best = min(best, (time.perf_counter() - started) * 1000)
    return boxes, best


def run_setting(setting: Setting, groups, identities, *, repeats: int) -> dict:
    from bench.eval_groups import group_recall, totals

    detect = setting.make()
    rows, group_ms = [], []
    for group in groups:
        rgb, scale = prepared(group.path.read_bytes(), setting.side)
        detect(rgb)  # warm
        boxes, ms = timed(detect, rgb, repeats)
        rows.append(group_recall(group, [_scaled(box, scale) for box in boxes]))
        group_ms.append(ms)
    found, identity_ms = 0, []
    for photo in identities:
        rgb, _ = prepared(photo.path.read_bytes(), setting.side)
        boxes, ms = timed(detect, rgb, 1)
        found += bool(boxes)
        identity_ms.append(ms)
    return {
        "setting": setting.name,
        "groups": totals(rows),
        "group_rows": [row.as_dict() for row in rows],
        "group_ms_median": round(float(np.median(group_ms)), 1),
        "identity_photos_with_a_face": found,
        "identity_photos": len(identities),
        "identity_ms_median": round(float(np.median(identity_ms)), 1) if identity_ms else None,
    }


def _rect_box(rect) -> Box:
    return Box(rect.left(), rect.top(), rect.right() - rect.left(), rect.bottom() - rect.top())


def _scaled(box: Box, scale: float) -> Box:
    return Box(*(round(v / scale) for v in (box.x, box.y, box.w, box.h)))


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "eval-research")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", default="", help="Semicolon-separated substrings of the setting names to run")
    parser.add_argument("--no-identities", action="store_true", help="Group photos only")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    import django

    django.setup()
    from bench.eval import default_data

    data = args.data or default_data()
    groups = load_groups(data / "groups")
    identities = [] if args.no_identities else load_identities(data)
    args.output.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in SETTINGS if not args.only or any(part in s.name for part in args.only.split(";"))]
    for setting in chosen:
        result = run_setting(setting, groups, identities, repeats=args.repeats)
        path = args.output / f"detector-{re.sub(r'[^a-z0-9]+', '-', setting.name.lower()).strip('-')}.json"
        path.write_text(json.dumps(result, indent=1))
        t = result["groups"]
        print(
            f"| {setting.name} | {t['found_iou']}/{t['annotated']} | {t['found_centre']}/{t['annotated']} | "
            f"{t['detected']} | {result['group_ms_median']} | {result['identity_photos_with_a_face']}/{result['identity_photos']} | "
            f"{result['identity_ms_median']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
