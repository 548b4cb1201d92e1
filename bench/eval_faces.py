"""Faces of each photo for ``make eval``: found and embedded once per preprocessing variant, and
cached on disk (``var/eval-cache/<variant>/<content hash>.npz``) so that splits, rules and
thresholds are evaluated without touching the model again.

``ProductVariant`` is the product itself: faces.pipeline.detect_faces for a domain's model
and detector, the function that both photo_add (enrolment: the largest face) and recognize
(queries) call. Its cache key includes a hash of the product's pipeline source, so a change to the
pipeline is measured afresh. Research variants (bench/research_chip.py) implement the same
interface.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class FoundFace:
    box: tuple[int, int, int, int]  # x, y, w, h in the photo's own pixels
    confidence: float
    embedding: np.ndarray
    extra: dict = field(default_factory=dict)  # what a variant knows besides (landmarks, quality)


@dataclass(frozen=True)
class PhotoFaces:
    faces: list[FoundFace]  # largest first, as the product orders them
    timings_ms: dict[str, float]
    size: tuple[int, int]  # the photo's (width, height) after EXIF rotation

    @property
    def subject(self) -> FoundFace | None:
        """The face the product takes as the photo's person (photo_add keeps the largest)."""
        return self.faces[0] if self.faces else None


class Variant(Protocol):
    name: str

    def fingerprint(self) -> str: ...

    def faces(self, data: bytes) -> PhotoFaces: ...


class ProductVariant:
    """The product's faces for a model/detector pair (a domain's settings)."""

    def __init__(self, *, model_name: str, detector: str, alignment: str):
        self.model_name = model_name
        self.detector = detector
        self.alignment = alignment
        self.name = f"product {model_name}/{detector}/{alignment}"

    def fingerprint(self) -> str:
        from django.conf import settings

        settings_key = f"{self.model_name}-{self.detector}-{self.alignment}-{settings.FACEREC_MAX_IMAGE_SIDE}"
        return f"product-{settings_key}-{_product_source_hash()}"

    def faces(self, data: bytes) -> PhotoFaces:
        from faces.pipeline import StageTimer, detect_faces

        timer = StageTimer()
        image, faces = detect_faces(
            data, model_name=self.model_name, detector=self.detector, alignment=self.alignment, timer=timer
        )
        found = [
            FoundFace(
                box=(face.box["x"], face.box["y"], face.box["w"], face.box["h"]),
                confidence=face.confidence,
                embedding=np.asarray(face.embedding, dtype=np.float32),
            )
            for face in faces
        ]
        return PhotoFaces(faces=found, timings_ms=dict(timer.stages), size=image.original_size)


def _dlib_build() -> str:
    """Which dlib is installed: the OpenBLAS build (deploy/build_dlib.py, its version names the
    build) or the dlib-bin wheel; both say 20.0.1 as ``dlib.__version__``."""
    from importlib.metadata import PackageNotFoundError, version

    for name in ("dlib", "dlib-bin"):
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            continue
    import dlib

    return dlib.__version__


def _product_source_hash() -> str:
    """A hash of the Python files of the packages that hold detect_faces and what it calls to
    decode, detect and embed (wherever a refactor moves them), and of the model libraries' builds."""
    from importlib.metadata import version

    from faces import images, pipeline

    folders = {Path(inspect.getsourcefile(obj)).parent for obj in (pipeline.detect_faces, images.decode_image, pipeline.get_pipeline)}
    digest = hashlib.sha256(f"{version('deepface')} {_dlib_build()}".encode())
    for path in sorted(p for folder in folders for p in folder.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class FaceCache:
    """One ``.npz`` per (variant fingerprint, photo content)."""

    def __init__(self, root: Path | None):
        self.root = root

    def get_or_compute(self, variant: Variant, fingerprint: str, data: bytes) -> PhotoFaces:
        path = self._path(fingerprint, data)
        if path is not None and path.is_file():
            return _load(path)
        result = variant.faces(data)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _save(path, result)
        return result

    def _path(self, fingerprint: str, data: bytes) -> Path | None:
        if self.root is None:
            return None
        return self.root / fingerprint / f"{hashlib.sha256(data).hexdigest()[:32]}.npz"


def embed_photos(variant: Variant, paths: list[Path], *, cache: FaceCache, log: Callable[[str], None] = print) -> dict[Path, PhotoFaces]:
    """Every photo's faces for ``variant``, each photo computed at most once per fingerprint."""
    fingerprint = variant.fingerprint()
    started, results = time.perf_counter(), {}
    for index, path in enumerate(paths, 1):
        results[path] = cache.get_or_compute(variant, fingerprint, path.read_bytes())
        if index % 25 == 0 or index == len(paths):
            log(f"  {variant.name}: {index}/{len(paths)} photos ({time.perf_counter() - started:.0f}s)")
    return results


def _save(path: Path, photo: PhotoFaces) -> None:
    dim = photo.faces[0].embedding.shape[0] if photo.faces else 0
    meta = {
        "timings_ms": photo.timings_ms,
        "size": list(photo.size),
        "confidence": [face.confidence for face in photo.faces],
        "extra": [face.extra for face in photo.faces],
    }
    tmp = path.with_suffix(".partial.npz")
    np.savez(
        tmp,
        boxes=np.asarray([face.box for face in photo.faces], dtype=np.int64).reshape(-1, 4),
        embeddings=np.asarray([face.embedding for face in photo.faces], dtype=np.float32).reshape(-1, dim),
        meta=np.asarray(json.dumps(meta)),
    )
    tmp.replace(path)


def _load(path: Path) -> PhotoFaces:
    with np.load(path, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        faces = [
            FoundFace(box=tuple(int(v) for v in box), confidence=float(conf), embedding=vector, extra=extra)
            for box, vector, conf, extra in zip(stored["boxes"], stored["embeddings"], meta["confidence"], meta["extra"], strict=True)
        ]
    return PhotoFaces(faces=faces, timings_ms=meta["timings_ms"], size=tuple(meta["size"]))
