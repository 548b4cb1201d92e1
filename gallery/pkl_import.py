"""Migrating a DeepFace ``find()`` gallery: a ``representations_*.pkl`` / ``ds_model_*.pkl`` file
(or the ``.npz`` datastore newer DeepFace versions write) into a domain.

Formats read:
- DeepFace ≥ 0.0.80 PKL: a list of dicts with ``identity`` (image path), ``hash``, ``embedding``
  and ``target_x/y/w/h`` (the face box);
- older PKL: a list of ``[identity, embedding]`` pairs;
- DeepFace ≥ 0.0.100 ``.npz``: the same columns as arrays (read with ``allow_pickle=False``).

The person is the parent folder of each identity path (DeepFace's ``db_path/<person>/<photo>``).
Pickle can execute code while loading, so PKL files go through ``SafeUnpickler``, which only lets
plain data and numpy arrays through; anything else is refused before it runs.
"""

from __future__ import annotations

import pickle
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np
from django.db import transaction

from faces.models_zoo import DEEPFACE, MODEL_DIMENSIONS
from faces.pipeline import Face
from gallery.models import Domain, FacePhoto, Person
from gallery.services import person_get_or_create, photo_import

# Records committed per transaction: a killed import loses at most one batch, and a rerun skips
# what was committed (photos are identified by content hash).
BATCH = 500

_SAFE_GLOBALS = {
    ("builtins", "list"), ("builtins", "dict"), ("builtins", "tuple"), ("builtins", "set"),
    ("builtins", "frozenset"), ("builtins", "bytearray"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


class PklError(Exception):
    """The file cannot be imported; the message says why. Nothing was written."""


class SafeUnpickler(pickle.Unpickler):
    """Loads lists, dicts, strings, numbers and numpy arrays, and nothing that could run code."""

    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise PklError(
            f"refused to load: the pickle refers to {module}.{name}, which is not plain data "
            "(a pickle can run code while it is loaded; this one tries to)"
        )


@dataclass(frozen=True)
class Record:
    identity: str
    embedding: np.ndarray | None
    box: dict[str, int]
    content_hash: str = ""

    @property
    def person_name(self) -> str:
        return PurePath(self.identity).parent.name or "unknown"


def records_load(path: Path) -> list[Record]:
    if path.suffix.lower() == ".npz":
        return _npz_records(path)
    try:
        with open(path, "rb") as handle:
            data = SafeUnpickler(handle).load()
    except PklError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise PklError(f"{path.name} is not a readable pickle: {exc}") from None
    if not isinstance(data, list | tuple):
        raise PklError(f"{path.name} holds a {type(data).__name__}, not a list of representations")
    return [_record(item, index) for index, item in enumerate(data)]


def _record(item, index: int) -> Record:
    if isinstance(item, dict) and "identity" in item and "embedding" in item:
        box = {key: int(item.get(f"target_{key}", 0) or 0) for key in ("x", "y", "w", "h")}
        return Record(str(item["identity"]), _vector(item["embedding"]), box, str(item.get("hash") or ""))
    if isinstance(item, list | tuple) and len(item) == 2:
        return Record(str(item[0]), _vector(item[1]), {"x": 0, "y": 0, "w": 0, "h": 0})
    raise PklError(f"record {index} is neither {{identity, embedding, …}} nor [identity, embedding]")


def _vector(value) -> np.ndarray | None:
    if value is None:
        return None
    return np.asarray(value, dtype=np.float32).reshape(-1)


def _npz_records(path: Path) -> list[Record]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            columns = {name: npz[name] for name in npz.files}
    except (ValueError, OSError) as exc:
        raise PklError(f"{path.name} is not a DeepFace datastore: {exc}") from None
    has = columns.get("has_embedding", np.ones(len(columns["identity"]), dtype=bool))
    return [
        Record(
            str(columns["identity"][i]),
            columns["embedding"][i].astype(np.float32) if has[i] else None,
            {key: int(columns[f"target_{key}"][i]) for key in ("x", "y", "w", "h")},
            str(columns["hash"][i]) if "hash" in columns else "",
        )
        for i in range(len(columns["identity"]))
    ]


def names_from_file(path: Path) -> tuple[str | None, str | None]:
    """(model, detector) as DeepFace names them in the file name, lower case, where it says."""
    match = re.match(r"ds_model_(?P<model>.+?)_detector_(?P<detector>.+?)_", path.name)
    if match:
        return match["model"], match["detector"]
    match = re.match(r"representations_(?P<model>.+?)\.pkl$", path.name)
    return (match["model"], None) if match else (None, None)


def records_check(records: list[Record], model_name: str) -> None:
    """Raise PklError unless every vector has ``model_name``'s dimension."""
    dim = MODEL_DIMENSIONS[model_name]
    wrong = next((r for r in records if r.embedding is not None and len(r.embedding) != dim), None)
    if wrong is not None:
        raise PklError(f"{wrong.identity}: {len(wrong.embedding)}-d vector, but {model_name} has {dim} dimensions")


def pkl_import(*, domain: Domain, model_name: str, records: list[Record], source: str = "") -> Counter:
    """Store every record as a photo (the image file too, where its path exists here) and a face of
    ``model_name`` with the record's own vector: nothing is re-embedded, so answers match the old
    search. Idempotent: photos already in the domain (same content) are skipped.

    The vectors were computed by DeepFace on its own crop, so they are stored in the ``deepface``
    alignment, and only into a domain served in that space (PklError otherwise): a domain's search
    never mixes them with vectors of another crop."""
    records_check(records, model_name)
    if domain.alignment != DEEPFACE:
        raise PklError(
            f"domain {domain.slug!r} uses the {domain.alignment} alignment; DeepFace PKL vectors come from "
            f"DeepFace's crop and go into a domain with the {DEEPFACE} alignment"
        )
    counts: Counter = Counter()
    persons: dict[str, Person] = {}
    for start in range(0, len(records), BATCH):
        counts += _import_batch(domain, model_name, records[start : start + BATCH], persons, source)
    return counts


@transaction.atomic
def _import_batch(domain, model_name, records, persons, source) -> Counter:
    counts: Counter = Counter()
    prepared = [(record, *_photo_content(record)) for record in records]
    known = set(
        FacePhoto.objects.filter(domain=domain, content_hash__in=[p[2] for p in prepared]).values_list(
            "content_hash", flat=True
        )
    )
    for record, data, content_hash in prepared:
        if content_hash in known:
            counts["skipped"] += 1
            continue
        known.add(content_hash)
        if record.person_name not in persons:
            persons[record.person_name] = person_get_or_create(domain=domain, name=record.person_name)[0]
        _store(model_name, record, data, content_hash, persons[record.person_name])
        counts["imported" if record.embedding is not None else "no_face"] += 1
    return counts


def _photo_content(record: Record) -> tuple[bytes | None, str]:
    path = Path(record.identity)
    try:
        data = path.read_bytes() if path.is_file() else None
    except OSError:
        data = None
    if data is not None:
        return data, FacePhoto.hash_bytes(data)
    # The image is not on this machine: identify the record by DeepFace's own file hash or path.
    return None, FacePhoto.hash_bytes(f"pkl:{record.content_hash or record.identity}".encode())


def _store(model_name, record, data, content_hash, person) -> None:
    face = Face(box=record.box, confidence=0.0, embedding=record.embedding) if record.embedding is not None else None
    photo_import(
        person=person, content_hash=content_hash, source_name=record.identity, model_name=model_name,
        alignment=DEEPFACE, face=face,  # confidence 0: DeepFace's datastore does not keep it
        data=data, extension=Path(record.identity).suffix.lstrip(".").lower()[:5] or "img",
    )


def records_summary(records: list[Record]) -> tuple[int, int]:
    return len({record.person_name for record in records}), sum(r.embedding is not None for r in records)

