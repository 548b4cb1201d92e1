"""RESEARCH, not product code: what a Dlib web worker's memory and start-up are made of, step by step.

    python -m bench.research_worker_floor [--repeats 3]

Two fresh processes per repeat, each taking one step at a time and reading its own resident memory
(``VmRSS``, what ``make bench`` reports for a worker) and the seconds since it started:
- ``models``: dlib's three models alone (no Django): numpy and dlib, the 5-point landmarks, the
  ResNet, the HOG detector, one detection on a blank photo of the largest size a photo is scaled
  to (the detector keeps that photo's feature pyramid) and one forward pass. The least any process
  that recognizes faces with these models can hold.
- ``web``: the web stack first, as a worker loads it: ``django.setup()`` with the project's
  settings (Django, DRF, psycopg, numpy, every app's models), then the URLconf (every view
  module), then redis-py (the throttle's cache), then the same models as above.
The median of ``--repeats`` per step. Nothing here touches a database or the network.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from bench.env import ROOT


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _models(step, paths: dict) -> None:
    import dlib
    import numpy as np

    step("numpy + dlib imported")
    dlib.shape_predictor(paths["landmarks"])
    step("5-point landmarks loaded")
    recognizer = dlib.face_recognition_model_v1(paths["resnet"])
    step("ResNet loaded")
    detector = dlib.fhog_object_detector(paths["detector"])
    step("HOG detector loaded")
    side = paths["side"]
    detector(np.zeros((side, side, 3), dtype=np.uint8), 1)
    step(f"one detection ({side} px, 1 upsampling)")
    recognizer.compute_face_descriptor(np.zeros((150, 150, 3), dtype=np.uint8))
    step("one forward pass")


def _web(step) -> None:
    import django

    django.setup()
    step("django.setup()")
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - loads every view module
    step("URLconf")
    import redis  # noqa: F401

    step("redis-py")


def model_paths() -> dict:
    """The product's weight files (``manage.py facerec_models --install``) and photo size."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    django.setup()
    from django.conf import settings

    from faces.alignment import SHAPE_PREDICTOR
    from faces.dlib_models import RESNET_WEIGHTS, detector_path
    from faces.models_zoo import weights_dir

    return {"landmarks": str(weights_dir() / SHAPE_PREDICTOR), "resnet": str(weights_dir() / RESNET_WEIGHTS),
            "detector": str(detector_path()), "side": settings.FACEREC_MAX_IMAGE_SIDE}


def child(stage: str, paths: dict) -> list[dict]:
    started = time.perf_counter()
    steps = [{"step": "python", "rss_mb": _rss_mb(), "seconds": 0.0}]

    def step(name: str) -> None:
        steps.append({"step": name, "rss_mb": _rss_mb(), "seconds": time.perf_counter() - started})

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    if stage == "web":
        _web(step)
    _models(step, paths)
    return steps


def run(stage: str, paths: dict) -> list[dict]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.research_worker_floor", "--child", stage, "--paths", json.dumps(paths)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(output.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["models", "web"], help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.paths))))
        return
    import numpy as np

    paths = model_paths()
    for stage in ("models", "web"):
        runs = [run(stage, paths) for _ in range(args.repeats)]
        print(f"\n{stage}: step, resident MB (added), seconds since start; median of {args.repeats}")
        previous = 0.0
        for index, first in enumerate(runs[0]):
            rss = float(np.median([steps[index]["rss_mb"] for steps in runs]))
            seconds = float(np.median([steps[index]["seconds"] for steps in runs]))
            print(f"  {first['step']:<40} {rss:6.1f} MB ({rss - previous:+5.1f})  {seconds:5.2f} s")
            previous = rss


if __name__ == "__main__":
    main()
