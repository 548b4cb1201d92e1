"""The old way: DeepFace's own ``find()`` over a folder gallery with its representations file.

The folder is laid out as DeepFace expects (``db_path/<person>/<photo>.jpg``): every file exists,
as a hard link to one of a handful of real photos, and the datastore DeepFace keeps next to them
(``ds_model_dlib_detector_dlib_..._.npz`` in deepface 0.0.103, the successor of
``representations_dlib.pkl``) holds, for each file, the hash DeepFace checks and the *same*
synthetic embedding as our benchmark domain. So ``find`` does its real work on every call: walk the
folder, re-hash every file against the datastore, load it, and compare the query with all
embeddings one by one.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from bench.env import ROOT, work_dir

PHOTOS = ROOT / "tests" / "data" / "faces"


def datastore_name(model_name: str, detector: str) -> str:
    """The file name deepface 0.0.103's ``find`` gives its datastore for these settings."""
    parts = ["ds", "model", model_name, "detector", detector, "aligned", "normalization", "base", "expand", "0"]
    return "_".join(parts).replace("-", "").lower() + ".npz"


def gallery_folder(vectors: np.ndarray, person_of: np.ndarray, *, model_name: str = "Dlib", detector: str = "dlib") -> Path:
    """The folder gallery of ``vectors`` (reused when it already holds exactly these)."""
    from deepface.commons import image_utils
    from deepface.modules import recognition

    root = work_dir() / f"find_db_{len(vectors)}"
    marker = root / ".complete"
    if marker.exists() and marker.read_text() == _fingerprint(vectors):
        return root
    shutil.rmtree(root, ignore_errors=True)
    sources = sorted(p for p in PHOTOS.glob("img*.jpg"))[:20]
    paths = []
    for i, person in enumerate(person_of.tolist()):
        folder = root / f"person_{person:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:07d}.jpg"
        os.link(sources[i % len(sources)], path)
        paths.append(str(path))
    # Hash only now: every new link to a file changes its ctime, which DeepFace's hash includes.
    representations = [
        {
            "identity": path,
            "hash": image_utils.find_image_hash(path),
            "embedding": vector.astype(np.float64).tolist(),
            "target_x": 0, "target_y": 0, "target_w": 100, "target_h": 100,
        }
        for path, vector in zip(paths, vectors, strict=True)
    ]
    serialize = getattr(recognition, "__serialize_npz")  # module-private, name not mangled
    (root / datastore_name(model_name, detector)).write_bytes(serialize(representations))
    marker.write_text(_fingerprint(vectors))
    return root


def _fingerprint(vectors: np.ndarray) -> str:
    return f"{vectors.shape}:{float(vectors[:100].sum()):.6f}"


def find_once(db_path: Path, image_path: Path) -> float:
    """Milliseconds for one ``DeepFace.find`` call, as the old server made per request."""
    from deepface import DeepFace

    started = time.perf_counter()
    DeepFace.find(str(image_path), str(db_path), model_name="Dlib", detector_backend="dlib", silent=True)
    return (time.perf_counter() - started) * 1000
