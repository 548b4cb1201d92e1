"""RESEARCH, not product code: face quality on the evaluation photos, and how recognition holds
up when a face gets smaller or blurrier, to choose a defensible quality bar.

    python -m bench.research_quality [--data DIR] [--output var/eval-research]

1. Distributions of each face's size, sharpness, pose and detection score (bench.research_chip
   face_quality) over the identity photos' subjects and every group-photo face.
2. Degradation: every identity photo queried again after scaling it down until its face box is
   S px wide (INTER_AREA: a camera that caught fewer pixels), or after a Gaussian blur; the
   gallery keeps the clean photos. The same splits as ``make eval`` (3 photos per person), the
   dlib 5-point chip embedding, and the rules of bench.eval_decision: does a small or blurred face
   get rejected (fine) or named as someone else (not fine)?
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from bench.env import ROOT

QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
METRICS = ("box_px", "eye_distance_px", "sharpness", "sharpness_rel", "abs_yaw", "abs_roll", "hog_score")
SIZES = (20, 24, 28, 32, 40, 48, 64, 80, 100)
BLURS = (1.0, 2.0, 3.0, 4.0)  # Gaussian sigma in 150 px chip pixels


def metrics(extra: dict) -> dict:
    return {**{k: extra[k] for k in METRICS if k in extra}, "abs_yaw": abs(extra["yaw"]), "abs_roll": abs(extra["roll"])}


def distributions(faces: list[dict]) -> dict:
    return {metric: {str(q): round(float(np.quantile([f[metric] for f in faces], q)), 2) for q in QUANTILES} for metric in METRICS}


def degraded_vectors(photos, chip_faces, *, size: int | None = None, blur: float | None = None) -> tuple[dict, list[float]]:
    """Each identity photo's subject re-embedded from a degraded copy of the decoded photo, with
    its landmarks moved along (detection is not asked again: this measures the recognizer)."""
    import cv2
    import dlib

    from bench.eval_protocol import unit
    from bench.research_chip import CHIP_PADDING, CHIP_SIZE, DlibModels
    from faces.images import decode_image

    models = DlibModels.get()
    vectors, sharpness = {}, []
    for photo in photos:
        subject = chip_faces[photo.path].subject
        if subject is None:
            vectors[photo.name] = None
            continue
        rgb = decode_image(photo.path.read_bytes()).rgb
        points = np.array(subject.extra["landmarks"], dtype=np.float64)
        scale = 1.0
        if size is not None:
            scale = min(1.0, size / subject.extra["box_px"])
            rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))), interpolation=cv2.INTER_AREA)
            points = points * scale
        if blur is not None:
            sigma = blur * subject.extra["box_px"] * (1 + 2 * CHIP_PADDING) / CHIP_SIZE
            rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
        xs, ys = points[:, 0], points[:, 1]
        rect = dlib.rectangle(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in points])
        chip = dlib.get_face_chip(np.ascontiguousarray(rgb), shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY).astype(np.float64)
        sharpness.append(float(cv2.Laplacian(grey, cv2.CV_64F).var()))
        vectors[photo.name] = unit(np.asarray(models.recognizer.compute_face_descriptor(chip), dtype=np.float64))
    return vectors, sharpness


def split_shares(clean: dict, queries: dict, splits, *, thresholds: list[float]) -> dict:
    from bench.eval import RULES
    from bench.eval_protocol import Gallery, Tally, score_queries, tally

    result = {}
    for rule in [r for r in RULES if r.margin == 0]:
        totals = {t: Tally() for t in thresholds}
        for split in splits:
            gallery = Gallery(split.enrolled, clean, centroid=rule.centroid)
            scores = score_queries(gallery, queries, rule=rule, known=split.known, strangers=split.strangers)
            for t in thresholds:
                totals[t].add(tally(scores, threshold=t, margin=0.0))
        result[rule.name] = {str(t): totals[t].shares() for t in thresholds}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "eval-research")
    parser.add_argument("--splits", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    import django

    django.setup()
    from bench.eval import CACHE, default_data, subject_vectors
    from bench.eval_data import by_person, load_groups, load_identities
    from bench.eval_faces import FaceCache, embed_photos
    from bench.eval_protocol import make_splits
    from bench.research_chip import ChipVariant

    data = args.data or default_data()
    photos, groups = load_identities(data), load_groups(data / "groups")
    variant, cache = ChipVariant(), FaceCache(CACHE)
    chip = embed_photos(variant, [p.path for p in photos], cache=cache)
    group_faces = embed_photos(variant, [g.path for g in groups], cache=cache)
    identity_q = [metrics(chip[p.path].subject.extra) for p in photos if chip[p.path].subject]
    group_q = [metrics(face.extra) for g in groups for face in group_faces[g.path].faces]
    result = {
        "identities": distributions(identity_q),
        "groups": distributions(group_q),
        "identity_faces": len(identity_q),
        "group_faces": len(group_q),
    }

    names = {p.name: p.path for p in photos}
    clean = subject_vectors(chip, names)
    people = {person: [p.name for p in group] for person, group in by_person(photos).items()}
    splits = [by_n[3] for by_n in make_splits(people, splits=args.splits, photo_counts=[1, 2, 3, 4], seed=0)]
    thresholds = [0.05, 0.06, 0.07]
    result["degradation"] = [{"query": "clean", "sharpness_median": None, **split_shares(clean, clean, splits, thresholds=thresholds)}]
    for label, kwargs in [*((f"box {s} px", {"size": s}) for s in SIZES), *((f"blur sigma {b} (chip px)", {"blur": b}) for b in BLURS)]:
        queries, sharpness = degraded_vectors(photos, chip, **kwargs)
        row = {
            "query": label,
            "sharpness_median": round(float(np.median(sharpness)), 1),
            **split_shares(clean, queries, splits, thresholds=thresholds),
        }
        result["degradation"].append(row)
        print(label, row["sharpness_median"], {r: row[r]["0.06"] for r in row if isinstance(row[r], dict)}, flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "quality.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("identities", "groups")}, indent=1))


if __name__ == "__main__":
    main()
