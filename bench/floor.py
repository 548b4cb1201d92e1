"""The floor for recognize: the detector, the alignment and the recognizer called directly on the
image, with nothing of ours around them (no HTTP, multipart, auth, database, search, JSON).

It gets exactly what the server's pipeline gets after decoding: the photo scaled to
FACEREC_MAX_IMAGE_SIDE. The work is the minimum any recognizer must do for a new domain: detect,
align the face the way the model was trained (for Dlib, dlib's 5-point landmarks and face chip;
for other models DeepFace's ``extract_face``, resized and normalised), one forward pass, and the
face's quality (size and sharpness: what decides whether the face may be matched).
"""

from __future__ import annotations

import time

import numpy as np


class Floor:
    def __init__(self, image: bytes, *, model_name: str = "Dlib", detector: str = "dlib"):
        from deepface.modules import modeling

        from faces.images import decode_image
        from faces.models_zoo import native_alignment

        self.rgb = np.ascontiguousarray(decode_image(image).rgb)
        self.bgr = np.ascontiguousarray(self.rgb[:, :, ::-1])
        self.detector_name = detector
        self.alignment = native_alignment(model_name)
        self.detector = modeling.build_model(task="face_detector", model_name=detector)
        self.recognizer = modeling.build_model(task="facial_recognition", model_name=model_name)

    def once(self) -> float:
        """Milliseconds for detect + align + embed + quality of the largest face."""
        from faces.models_zoo import DLIB_CHIP
        from faces.quality import face_quality

        started = time.perf_counter()
        areas = self.detector.detect_faces(self.bgr)
        area = max(areas, key=lambda a: a.w * a.h)
        if self.alignment == DLIB_CHIP:
            from faces.alignment import dlib_chips

            chips, landmarks = dlib_chips(self.rgb, [area])
            self.recognizer.model.model.compute_face_descriptor(chips)
        else:
            landmarks = [None]
            self._deepface_embed(area)
        box = {"x": int(area.x), "y": int(area.y), "w": int(area.w), "h": int(area.h)}
        face_quality(self.rgb, box, landmarks=landmarks[0], confidence=float(area.confidence or 0.0))
        return (time.perf_counter() - started) * 1000

    def _deepface_embed(self, area) -> None:
        from deepface.modules import detection, preprocessing

        face = detection.extract_face(
            facial_area=area, img=self.bgr, align=True, expand_percentage=0,
            width_border=0, height_border=0, detector_backend=self.detector_name,
        ).img
        target = self.recognizer.input_shape
        face = preprocessing.resize_image(img=face / 255, target_size=(target[1], target[0]))
        self.recognizer.forward(preprocessing.normalize_input(img=face, normalization="base"))


# --- floor.*: dlib's two halves, this install's dlib against the dlib-bin wheel, in one run -----

BASELINE_WHEEL = "dlib-bin==20.0.1.post1"  # today's build: AVX, no BLAS


def baseline_dlib(root) -> str:
    """A folder holding the dlib-bin wheel, put first on sys.path of the baseline's process."""
    import subprocess
    import sys

    target = root / "var" / "bench" / "dlib-bin"
    if not (target / "dlib" / "__init__.py").is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), BASELINE_WHEEL],
            check=True,
        )
    return str(target)


def dlib_halves(image_path, *, rounds: int, dlib_path: str | None = None) -> dict:
    """p50 milliseconds of dlib's HOG detector (one upsampling step, as the ``dlib`` detector runs it)
    and of the ResNet on the largest face's chip, in a fresh process whose ``dlib`` is the one
    installed, or the one in ``dlib_path``."""
    import json
    import os
    import subprocess
    import sys

    from bench.env import ROOT

    env = dict(os.environ)
    if dlib_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (dlib_path, str(ROOT), env.get("PYTHONPATH")) if p)
    out = subprocess.run(
        [sys.executable, "-m", "bench.floor", str(image_path), str(rounds)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


ALTERNATIONS = 3


def compare_builds(image_path, *, rounds: int) -> dict:
    """``floor.*`` of bench/results/latest.json: this install's dlib next to the dlib-bin wheel.

    Each side runs in ALTERNATIONS processes, alternating (baseline, ours, baseline, ...), and each
    half's figure is the median of its processes' medians: load that drifts during the run (this
    machine's speed was seen to switch between two levels ~30 % apart) weighs on both sides alike."""
    from bench.env import ROOT

    baseline_path = baseline_dlib(ROOT)
    runs = {"baseline": [], "ours": []}
    for _ in range(ALTERNATIONS):
        runs["baseline"].append(dlib_halves(image_path, rounds=rounds, dlib_path=baseline_path))
        runs["ours"].append(dlib_halves(image_path, rounds=rounds))
    baseline, ours = ({**side[0], **{half: round(float(np.median([run[half] for run in side])), 2)
                                     for half in ("detect_ms", "embed_ms")}} for side in runs.values())
    ours_sum = ours["detect_ms"] + ours["embed_ms"]
    baseline_sum = baseline["detect_ms"] + baseline["embed_ms"]
    return {
        "detect_ms": ours["detect_ms"],
        "embed_ms": ours["embed_ms"],
        "baseline_detect_ms": baseline["detect_ms"],
        "baseline_embed_ms": baseline["embed_ms"],
        "ratio_to_baseline": round(ours_sum / baseline_sum, 3),
        "blas": ours["blas"],
        "baseline_blas": baseline["blas"],
        "dlib": ours["dlib"],
        "rounds": rounds,
        "alternations": ALTERNATIONS,
        "image": f"{image_path.name} at {ours['size']}, HOG with 1 upsampling step; embed: one 150 px chip",
    }


def _measure(image_path: str, rounds: int) -> dict:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    import django

    django.setup()
    import dlib

    from faces.alignment import CHIP_PADDING, CHIP_SIZE, shape_predictor
    from faces.images import decode_image
    from faces.models_zoo import weights_dir

    with open(image_path, "rb") as handle:
        rgb = np.ascontiguousarray(decode_image(handle.read()).rgb)
    detector = dlib.get_frontal_face_detector()
    resnet = dlib.face_recognition_model_v1(str(weights_dir() / "dlib_face_recognition_resnet_model_v1.dat"))
    face = max(detector(rgb, 1), key=lambda r: r.area())
    chip = dlib.get_face_chip(rgb, shape_predictor()(rgb, face), size=CHIP_SIZE, padding=CHIP_PADDING)
    detect, embed = [], []
    for i in range(rounds + 2):  # two warm-up rounds
        started = time.perf_counter()
        detector(rgb, 1)
        middle = time.perf_counter()
        resnet.compute_face_descriptor([chip])
        ended = time.perf_counter()
        if i >= 2:
            detect.append((middle - started) * 1000)
            embed.append((ended - middle) * 1000)
    return {
        "detect_ms": round(float(np.median(detect)), 2),
        "embed_ms": round(float(np.median(embed)), 2),
        "blas": bool(dlib.DLIB_USE_BLAS),
        "dlib": dlib.__file__,
        "size": f"{rgb.shape[1]}x{rgb.shape[0]}",
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(_measure(sys.argv[1], int(sys.argv[2]))))
