"""RESEARCH, not product code: time per face of the two preprocessings, on the same detections.

    python -m bench.research_timing [--data DIR] [--repeats 3]

For every identity photo (decoded as the product does, 640 px) the product's detector (DeepFace's
dlib: HOG with one upsampling, then the 5-point landmarks for the eyes) finds the faces once;
then, interleaved on the largest face:
- DeepFace crop: the product pipeline's own alignment (``extract_face``, resize, normalise) and
  its recognizer call (DeepFace's Dlib client, which flips BGR to RGB and scales back to 0-255);
- dlib chip: ``shape_predictor`` (5 points) + ``get_face_chip(150, 0.25)``, then
  ``face_recognition_model_v1.compute_face_descriptor`` on the chip.
The fastest of ``--repeats`` runs per photo, then the median and 90th percentile over photos.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.env import ROOT


def _ms(fn) -> tuple[object, float]:
    started = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - started) * 1000


def time_photo(pipeline, models, rgb: np.ndarray, repeats: int) -> dict | None:
    import dlib

    from bench.research_chip import CHIP_PADDING, CHIP_SIZE

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    areas, detect_ms = _ms(lambda: pipeline.detector.detect_faces(bgr))
    if not areas:
        return None
    area = max(areas, key=lambda a: a.w * a.h)
    rect = dlib.rectangle(int(area.x), int(area.y), int(area.x + area.w), int(area.y + area.h))
    hog = dlib.get_frontal_face_detector()
    best: dict[str, float] = {}

    def chip_of() -> np.ndarray:
        return dlib.get_face_chip(rgb, models.shape_predictor(rgb, rect), size=CHIP_SIZE, padding=CHIP_PADDING)

    for _ in range(repeats):
        runs = {}
        crops, runs["deepface_align"] = _ms(lambda: pipeline._aligned_crops(bgr, [area])[0])
        _, runs["deepface_embed"] = _ms(lambda crops=crops: pipeline._embed(crops))
        chip, runs["chip_align"] = _ms(chip_of)
        _, runs["chip_embed"] = _ms(lambda chip=chip: models.recognizer.compute_face_descriptor(chip))
        _, runs["hog_detect_only"] = _ms(lambda: hog.run(rgb, 1))
        for key, value in runs.items():
            best[key] = min(best.get(key, float("inf")), value)
    best["product_detect"] = detect_ms
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "eval-research")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    import django

    django.setup()
    from bench.eval import default_data
    from bench.eval_data import load_identities
    from bench.research_chip import DlibModels
    from faces.images import decode_image
    from faces.pipeline import get_pipeline

    pipeline, models = get_pipeline("Dlib", "dlib"), DlibModels.get()
    rows = []
    for photo in load_identities(args.data or default_data()):
        row = time_photo(pipeline, models, decode_image(photo.path.read_bytes()).rgb, args.repeats)
        if row:
            rows.append(row)
    summary = {
        key: {
            "median": round(float(np.median([r[key] for r in rows])), 2),
            "p90": round(float(np.percentile([r[key] for r in rows], 90)), 2),
        }
        for key in rows[0]
    }
    summary["photos"] = len(rows)
    summary["load_1m"] = round(os.getloadavg()[0], 2)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "timing.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
