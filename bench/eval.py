"""``make eval``: how well facerec names people it knows, and how often it names strangers.

    python -m bench.eval [--data DIR] [--groups DIR] [--splits 20] [--photos 1,2,3,4]
                         [--variants product,chip] [--e2e] [--output bench/results]

Data: labelled photos (``DIR/<person>/<photo>.jpg``, or ``DIR/identities/...``, or a
``labels.csv`` of ``file,identity``) and group photos with ``counts.csv`` / ``boxes.csv`` (default:
``DIR/groups``). Without ``--data``, the first ``shared/faces/eval-dev`` found beside the
repository or above it.

What it measures, for the product's default domain settings (model, detector, threshold):
- each photo's faces come from the product's own pipeline (faces.pipeline.detect_faces, the
  function photo_add and recognize call), computed once per photo and cached in var/eval-cache;
- open-set identification over ``--splits`` random splits: half the people enrolled with n photos
  each (``--photos``), the others strangers; for every decision rule of bench.eval_decision and
  every threshold, the share of known queries named right, named wrong and rejected, and the share
  of stranger queries named; the photos-per-person trend on the same held-out queries;
- closed-set top-1 (everyone enrolled, is the nearest person right?);
- same/different pair distances (the threshold's first-principles check);
- group-photo face recall (bench.eval_groups);
- with ``--e2e``: one split enrolled and queried through the real services in a scratch domain of
  the bench database, which must agree with the simulation (bench.eval_e2e).

Writes ``eval.json`` and ``eval.md`` to ``--output``. Exits non-zero when the end-to-end check
disagrees, and with ``--strict`` when a done-when target of the accuracy issue is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import numpy as np

from bench.env import ROOT
from bench.eval_data import Box, by_person, load_groups, load_identities
from bench.eval_decision import PRODUCT_RULE, Rule
from bench.eval_faces import FaceCache, PhotoFaces, ProductVariant, embed_photos
from bench.eval_groups import group_recall, totals
from bench.eval_protocol import Gallery, SplitScores, Tally, make_splits, score_queries, tally, top1, unit

RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "var" / "eval-cache"
RULES = [
    PRODUCT_RULE,
    Rule("nearest face", k=1),
    Rule("mean of 2 nearest faces", k=2),
    Rule("mean of 3 nearest faces", k=3),
    Rule("nearest face, margin 0.01", margin=0.01),
    Rule("nearest face, margin 0.02", margin=0.02),
]
# The thresholds measured, for Dlib's cosine distances (default 0.07); another model's grid is this
# one scaled to its default threshold.
THRESHOLDS = sorted({*np.round(np.arange(0.02, 0.1201, 0.005), 3).tolist(), 0.15, 0.18, 0.2})
GRID_DEFAULT = 0.07


def threshold_grid(default: float) -> list[float]:
    scale = default / GRID_DEFAULT
    return sorted({*(round(t * scale, 4) for t in THRESHOLDS), round(default, 4)})


# dlib's documented same-person rule is a Euclidean distance below 0.6 between its vectors. On unit
# vectors |a - b|^2 = 2 (1 - cos), which would make it a cosine distance of 0.6^2 / 2 = 0.18; but
# dlib's vectors are not unit vectors (their norm is about 1.5, measured in the pairs section), and
# for two vectors of norm r, |a - b|^2 = 2 r^2 (1 - cos): the same rule is 0.18 / r^2 in cosine.
DLIB_EUCLIDEAN = 0.6
DLIB_COSINE = DLIB_EUCLIDEAN**2 / 2


def dlib_rule_as_cosine(norm: float) -> float:
    """dlib's Euclidean 0.6 as a cosine distance, for vectors of length ``norm``."""
    return round(DLIB_EUCLIDEAN**2 / (2 * norm**2), 4)


TARGETS = {"known_right": 0.94, "named_wrong": 0.0, "strangers_named": 0.025, "group_recall": 0.975}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def default_data() -> Path | None:
    for folder in [ROOT, *ROOT.parents]:
        candidate = folder / "shared" / "faces" / "eval-dev"
        if candidate.is_dir():
            return candidate
    return None


def new_domain():
    """An unsaved domain with the settings domain_create gives a new one (model, detector and so
    threshold): the product's defaults, which the headline figures measure."""
    from django.conf import settings

    from faces.models_zoo import native_alignment
    from gallery.models import Domain

    model = settings.FACEREC_DEFAULT_MODEL
    return Domain(model_name=model, detector=settings.FACEREC_DEFAULT_DETECTOR, alignment=native_alignment(model))


# --- measuring -------------------------------------------------------------------------------


def subject_vectors(faces: dict[Path, PhotoFaces], names: dict[str, Path]) -> dict[str, np.ndarray | None]:
    """Each photo's person as the product takes it (its largest face), as a unit vector."""
    return {name: (unit(faces[path].subject.embedding) if faces[path].subject else None) for name, path in names.items()}


def open_set(vectors, splits, *, rules: list[Rule], thresholds: list[float], default: float) -> dict:
    """Per rule and photos per person: the shares at every threshold, pooled over the splits, on
    all the known queries (``roc``) and, for thresholds near ``default``, on the held-out ones every
    photo count shares (``trend``)."""
    result = {}
    for rule in rules:
        per_count = {}
        for n in splits[0]:
            roc = {t: Tally() for t in thresholds}
            trend = {t: Tally() for t in thresholds}
            for split in (by_n[n] for by_n in splits):
                gallery = Gallery(split.enrolled, vectors, centroid=rule.centroid)
                every = score_queries(gallery, vectors, rule=rule, known=split.known, strangers=split.strangers)
                held_out = {photo for photo, _ in split.held_out}
                held = SplitScores(
                    known=[scores for (photo, _), scores in zip(split.known, every.known, strict=True) if photo in held_out],
                    strangers=every.strangers,
                )
                for t in thresholds:
                    roc[t].add(tally(every, threshold=t, margin=rule.margin))
                    trend[t].add(tally(held, threshold=t, margin=rule.margin))
            per_count[str(n)] = {
                "roc": [{"threshold": t, **roc[t].shares()} for t in thresholds],
                "trend": [{"threshold": t, **trend[t].shares()} for t in thresholds if 0.6 <= t / default <= 1.25],
            }
        result[rule.name] = per_count
    return result


def closed_set(vectors, splits, *, rules: list[Rule]) -> dict:
    result = {}
    for rule in rules:
        per_count = {}
        for n in splits[0]:
            correct = queries = 0
            for split in (by_n[n] for by_n in splits):
                gallery = Gallery(split.enrolled, vectors, centroid=rule.centroid)
                c, q = top1(score_queries(gallery, vectors, rule=rule, known=split.known, strangers=[]))
                correct, queries = correct + c, queries + q
            per_count[str(n)] = {"top1": round(correct / max(queries, 1), 4), "queries": queries}
        result[rule.name] = per_count
    return result


def pair_distances(vectors: dict[str, np.ndarray | None], raw: dict[str, np.ndarray | None], thresholds: list[float]) -> dict:
    """Same-person and different-person distances over every pair of photos with a face."""
    names = [name for name, vector in vectors.items() if vector is not None]
    same, different, same_euc, diff_euc = [], [], [], []
    for a, b in combinations(names, 2):
        cosine = float(1.0 - vectors[a] @ vectors[b])
        euclidean = float(np.linalg.norm(raw[a].astype(np.float64) - raw[b].astype(np.float64)))
        is_same = a.split("/")[0] == b.split("/")[0]
        (same if is_same else different).append(cosine)
        (same_euc if is_same else diff_euc).append(euclidean)
    same, different = np.array(same), np.array(different)
    norms = np.array([np.linalg.norm(raw[name]) for name in names])
    quantiles = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    return {
        "same_pairs": len(same),
        "different_pairs": len(different),
        "vector_norm": {
            "min": round(float(norms.min()), 4),
            "median": round(float(np.median(norms)), 4),
            "max": round(float(norms.max()), 4),
        },
        "same_quantiles": {str(q): round(float(np.quantile(same, q)), 4) for q in quantiles},
        "different_quantiles": {str(q): round(float(np.quantile(different, q)), 4) for q in quantiles},
        "by_threshold": [
            {
                "threshold": t,
                "same_rejected": round(float(np.mean(same > t)), 4),
                "different_accepted": round(float(np.mean(different <= t)), 5),
            }
            for t in thresholds
        ],
        "euclidean_0.6": {
            "same_rejected": round(float(np.mean(np.array(same_euc) > DLIB_EUCLIDEAN)), 4),
            "different_accepted": round(float(np.mean(np.array(diff_euc) <= DLIB_EUCLIDEAN)), 5),
        },
    }


def timings(faces: dict[Path, PhotoFaces]) -> dict:
    """Median milliseconds per photo of each stage, and per face of the stages after detection
    (as measured when the photo was first embedded, on this machine, under its load then)."""
    stages = sorted({stage for photo in faces.values() for stage in photo.timings_ms})
    with_faces = [photo for photo in faces.values() if photo.faces]
    return {
        "per_photo_ms": {stage: round(float(np.median([p.timings_ms.get(stage, 0.0) for p in faces.values()])), 2) for stage in stages},
        "per_face_ms": {
            stage: round(float(np.median([p.timings_ms.get(stage, 0.0) / len(p.faces) for p in with_faces])), 2)
            for stage in stages
            if stage in ("align", "embed")
        },
    }


def groups_recall(variant, groups, cache: FaceCache) -> dict:
    faces = embed_photos(variant, [group.path for group in groups], cache=cache, log=log)
    rows = [group_recall(group, [Box(*face.box) for face in faces[group.path].faces]) for group in groups]
    return {"rows": [row.as_dict() for row in rows], "totals": totals(rows)}


def measure_variant(variant, photos, groups, splits, closed_splits, *, cache: FaceCache, rules, thresholds, default: float) -> dict:
    names = {photo.name: photo.path for photo in photos}
    log(f"{variant.name}: embedding {len(names)} photos")
    faces = embed_photos(variant, list(names.values()), cache=cache, log=log)
    vectors = subject_vectors(faces, names)
    raw = {name: (faces[path].subject.embedding if faces[path].subject else None) for name, path in names.items()}
    norm = float(np.median([np.linalg.norm(vector) for vector in raw.values() if vector is not None]))
    dlib_cosine = dlib_rule_as_cosine(norm)
    thresholds = sorted({*thresholds, dlib_cosine})
    log(f"{variant.name}: {len(splits)} splits x {len(rules)} rules x {len(thresholds)} thresholds")
    result = {
        "fingerprint": variant.fingerprint(),
        "dlib_euclidean_as_cosine": dlib_cosine,
        "no_face": sorted(name for name, vector in vectors.items() if vector is None),
        "several_faces": sorted(name for name, path in names.items() if len(faces[path].faces) > 1),
        "timings": timings(faces),
        "pairs": pair_distances(vectors, raw, thresholds),
        "closed_set": closed_set(vectors, closed_splits, rules=rules),
        "open_set": open_set(vectors, splits, rules=rules, thresholds=thresholds, default=default),
    }
    if groups:
        result["groups"] = groups_recall(variant, groups, cache)
    return result, vectors


def research_variant(name: str, *, model: str, detector: str):
    """Other preprocessing measured beside the product's: ``deepface`` is the product on DeepFace's
    crop-and-rotate (the alignment of existing and import_pkl domains, and of every domain before
    dlib's chip), ``chip`` the research prototype of the chip (bench/research_chip.py)."""
    if name == "product":
        return None
    if name == "deepface":
        return ProductVariant(model_name=model, detector=detector, alignment="deepface")
    if name == "chip":
        from bench.research_chip import ChipVariant

        return ChipVariant()
    raise SystemExit(f"unknown variant {name!r}: product, deepface or chip")


# --- targets, report -------------------------------------------------------------------------


def at(rows: list[dict], threshold: float) -> dict:
    return min(rows, key=lambda row: abs(row["threshold"] - threshold))


def targets(results: dict) -> list[dict]:
    settings = results["settings"]
    product = results["variants"][settings["product_variant"]]
    row = at(product["open_set"][PRODUCT_RULE.name][str(settings["default_photos"])]["roc"], settings["threshold"])
    checks = [
        ("known named right", row["known_right"], ">=", TARGETS["known_right"]),
        ("known named wrong", row["named_wrong"], "<=", TARGETS["named_wrong"]),
        ("strangers named", row["strangers_named"], "<=", TARGETS["strangers_named"]),
    ]
    if "groups" in product:
        checks.append(("group-photo face recall (IoU 0.5)", product["groups"]["totals"]["recall_iou"], ">=", TARGETS["group_recall"]))
    return [
        {
            "figure": figure,
            "value": value,
            "target": f"{op} {goal}",
            "ok": value is not None and (value >= goal if op == ">=" else value <= goal),
        }
        for figure, value, op, goal in checks
    ]


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=None, help="Labelled photos: DIR/<person>/<photo> or DIR/labels.csv (default: eval-dev)"
    )
    parser.add_argument("--groups", type=Path, default=None, help="Group photos with counts.csv and boxes.csv (default: DATA/groups)")
    parser.add_argument("--splits", type=int, default=20, help="Random enrolled/stranger splits (default 20)")
    parser.add_argument("--photos", default="1,2,3,4", help="Enrolment photos per person to measure (default 1,2,3,4)")
    parser.add_argument("--default-photos", type=int, default=3, help="Photos per person of the headline figures (default 3)")
    parser.add_argument("--enrol-share", type=float, default=0.5, help="Share of the people enrolled in each split (default 0.5)")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the splits")
    parser.add_argument(
        "--variants", default="product", help="Comma-separated: product (always), deepface (the product on DeepFace's crop), chip"
    )
    parser.add_argument("--threshold", type=float, default=None, help="Threshold of the headline figures (default: a new domain's)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="Where faces are cached per variant (default var/eval-cache)")
    parser.add_argument("--no-cache", action="store_true", help="Embed every photo afresh and cache nothing")
    parser.add_argument("--e2e", action="store_true", help="Also enrol and query one split through the real services (bench database)")
    parser.add_argument("--strict", action="store_true", help="Exit non-zero when a done-when target is missed")
    parser.add_argument("--output", type=Path, default=RESULTS, help="Folder for eval.json and eval.md")
    return parser.parse_args(argv)


def setup_django(*, e2e: bool) -> tempfile.TemporaryDirectory | None:
    media = None
    if e2e:
        from bench.env import use_bench_database

        media = tempfile.TemporaryDirectory(prefix="facerec-eval-media-")
        os.environ["MEDIA_ROOT"] = media.name  # the scratch domain's photo files go nowhere else
        use_bench_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    import django

    django.setup()
    return media


def run_e2e(split, paths, vectors, settings: dict) -> dict:
    from django.core.management import call_command

    from bench.eval_e2e import e2e_check
    from gallery.models import Domain
    from gallery.services import domain_create, domain_remove

    call_command("migrate", verbosity=0)
    slug = f"eval-e2e-{os.getpid()}"
    for stale in Domain.objects.filter(slug=slug):
        domain_remove(domain=stale)
    domain = domain_create(slug=slug, name="make eval end-to-end check", model_name=settings["model"], detector=settings["detector"])
    if settings["threshold_overridden"]:
        domain.threshold = settings["threshold"]
        domain.save(update_fields=["threshold"])
    try:
        return e2e_check(domain=domain, split=split, paths=paths, vectors=vectors).as_dict()
    finally:
        # The one way to remove a domain (its rows in the order the composite keys need, its
        # indexes and files), as every other door does.
        domain_remove(domain=domain)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    data = args.data or default_data()
    if data is None or not data.is_dir():
        raise SystemExit("no data: pass --data DIR (labelled photos), or place shared/faces/eval-dev beside the repository")
    media = setup_django(e2e=args.e2e)
    from django.conf import settings as django_settings

    domain = new_domain()
    model, detector = domain.model_name, domain.detector
    threshold = args.threshold if args.threshold is not None else domain.effective_threshold
    photos = load_identities(data)
    people = {person: [photo.name for photo in group] for person, group in by_person(photos).items()}
    groups = load_groups(args.groups or data / "groups")
    counts = sorted({int(n) for n in args.photos.split(",")} | {args.default_photos})
    splits = make_splits(people, splits=args.splits, photo_counts=counts, seed=args.seed, enrol_share=args.enrol_share)
    closed_splits = make_splits(people, splits=args.splits, photo_counts=counts, seed=args.seed, enrol_share=1.0)
    thresholds = sorted({*threshold_grid(threshold), round(DLIB_COSINE, 4)})
    cache = FaceCache(None if args.no_cache else args.cache)
    product = ProductVariant(model_name=model, detector=detector, alignment=domain.alignment)
    others = (research_variant(name, model=model, detector=detector) for name in args.variants.split(","))
    variants = [product] + [v for v in others if v is not None]
    results: dict = {
        "command": "python -m bench.eval " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": {
            "folder": str(data),
            "people": len(people),
            "photos": len(photos),
            "groups": len(groups),
            "group_faces": sum(group.count for group in groups),
        },
        "settings": {
            "model": model,
            "detector": detector,
            "threshold": threshold,
            "threshold_overridden": args.threshold is not None,
            "max_image_side": django_settings.FACEREC_MAX_IMAGE_SIDE,
            "splits": args.splits,
            "photo_counts": counts,
            "default_photos": args.default_photos,
            "enrol_share": args.enrol_share,
            "seed": args.seed,
            "product_variant": product.name,
            "product_rule": PRODUCT_RULE.name,
            "dlib_cosine": DLIB_COSINE,
        },
        "rules": [rule.__dict__ for rule in RULES],
        "variants": {},
    }
    product_vectors = None
    for variant in variants:
        results["variants"][variant.name], vectors = measure_variant(
            variant, photos, groups, splits, closed_splits, cache=cache, rules=RULES, thresholds=thresholds, default=threshold
        )
        product_vectors = product_vectors or vectors
    if args.e2e:
        log("end-to-end: enrolling one split through the services and querying recognize")
        paths = {photo.name: photo.path for photo in photos}
        results["e2e"] = run_e2e(splits[0][args.default_photos], paths, product_vectors, results["settings"])
        media.cleanup()
    results["targets"] = targets(results)
    results["machine"] = machine()
    results["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["duration_s"] = round(time.perf_counter() - started, 1)
    write(results, args.output)
    return exit_status(results, strict=args.strict)


def write(results: dict, output: Path) -> None:
    from bench.eval_report import markdown

    output.mkdir(parents=True, exist_ok=True)
    (output / "eval.json").write_text(_one_row_per_line(json.dumps(results, indent=1)) + "\n")
    (output / "eval.md").write_text(markdown(results))
    log(f"wrote {output / 'eval.json'} and eval.md in {results['duration_s']:.0f}s")


def _one_row_per_line(text: str) -> str:
    """Innermost objects (a threshold's shares, a photo's recall) on one line each."""
    return re.sub(r"\{\n\s+([^{}\[\]]*?)\n\s*\}", lambda m: "{" + " ".join(part.strip() for part in m.group(1).split("\n")) + "}", text)


def exit_status(results: dict, *, strict: bool) -> int:
    for target in results["targets"]:
        log(f"  {'ok  ' if target['ok'] else 'MISS'} {target['figure']}: {target['value']} (target {target['target']})")
    if "e2e" in results:
        e2e = results["e2e"]
        log(f"  end-to-end: {e2e['agreed']}/{e2e['queries']} queries answered as simulated (max distance diff {e2e['max_distance_diff']})")
        if not e2e["ok"]:
            return 1
    return 1 if strict and not all(target["ok"] for target in results["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
