"""A domain's threshold calibrated from its own gallery (``manage.py calibrate_threshold``, the
domains admin's "Calibrate threshold" action).

Recognize names a person when the face's distance to the person's centroid is within the threshold
(recognition/decision.py). How often that names a stranger depends on the model, the photos and on
the gallery itself (how many persons, how alike), so a domain can measure it on its own faces:

- **strangers** (impostor statistics): for each face (a random sample of at most ``MAX_SAMPLE``),
  the distance to the nearest centroid of every *other* person. A stranger is someone the gallery
  does not hold; a face compared with all the persons that are not its own is exactly that, for
  this gallery's size and make-up. The predicted share of strangers named at threshold ``t`` is
  the share of these nearest distances within ``t``.
- **known** (genuine statistics): each face's distance to its own person's centroid computed
  *without* that face (leave-one-out: a new photo of a known person is not in the gallery yet),
  for persons with at least 2 faces. The predicted share of known faces named at ``t`` is the
  share of these within ``t``.

The proposed threshold is the largest whose predicted stranger rate is at most the target.
Centroids are the ones search uses (``FaceEmbedding.objects.person_centroids``: the mean of the
unit-length face vectors of the domain's serving model, active persons only). The prediction is
about this gallery: it is as good as the gallery's labels (a mislabelled photo counts as a
stranger named) and as its photos are like the ones recognize will see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from faces.models_zoo import default_threshold
from gallery.models import Domain, FaceEmbedding
from gallery.services.audit import audit_record

MAX_SAMPLE = 20_000
DEFAULT_TARGET = 0.01
# Faces per block of the face x person similarity matrix (about 64 MiB of float32 per block).
BLOCK_CELLS = 1 << 24
# The table's thresholds, besides the proposed and current ones: the model's default times these.
TABLE_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5)


class CalibrationRefused(Exception):
    """The domain's gallery cannot say anything about strangers (fewer than 2 persons with faces)."""


@dataclass(frozen=True)
class CalibrationRow:
    threshold: float
    strangers_named: float  # predicted share of strangers given a name
    known_named: float | None  # predicted share of known persons' new photos named (None: no genuine pair)


@dataclass(frozen=True)
class Calibration:
    domain: Domain
    model_name: str
    persons: int
    faces: int
    sampled: int
    genuine_faces: int
    target: float
    proposed: float
    current: float
    rows: list[CalibrationRow]
    impostor: np.ndarray  # each sampled face's distance to its nearest other person's centroid, sorted
    genuine: np.ndarray  # leave-one-out distances to the own centroid, sorted

    def row(self, threshold: float) -> CalibrationRow:
        strangers = np.searchsorted(self.impostor, threshold, side="right") / len(self.impostor)
        known = np.searchsorted(self.genuine, threshold, side="right") / len(self.genuine) if len(self.genuine) else None
        return CalibrationRow(threshold=threshold, strangers_named=float(strangers),
                              known_named=None if known is None else float(known))


def threshold_calibrate(
    *, domain: Domain, target: float = DEFAULT_TARGET, sample: int = MAX_SAMPLE, seed: int = 0
) -> Calibration:
    """Predict the stranger and known rates of the domain's person-level decision from its own
    gallery and propose a threshold (see the module docstring). Reads only; raises
    CalibrationRefused when fewer than 2 persons have faces."""
    if not 0 < target < 1:
        raise ValueError(f"the target stranger rate must be between 0 and 1, not {target}")
    centroids = FaceEmbedding.objects.person_centroids(
        domain_id=domain.id, model_name=domain.model_name, alignment=domain.alignment
    )
    if len(centroids) < 2:
        raise CalibrationRefused(
            f"{domain.slug} has {len(centroids)} person(s) with {domain.model_name} faces: calibrating needs at least 2"
        )
    row_of = {c.person_id: i for i, c in enumerate(centroids)}
    sums = np.stack([c.centroid * c.faces for c in centroids]).astype(np.float64)
    counts = np.array([c.faces for c in centroids])
    person_rows, vectors = _sampled_faces(domain, row_of, sample=sample, seed=seed)
    impostor = np.sort(_impostor_distances(vectors, person_rows, sums))
    genuine = np.sort(_genuine_distances(vectors, person_rows, sums, counts))
    proposed = _largest_threshold_within(impostor, target)
    calibration = Calibration(
        domain=domain, model_name=domain.model_name, persons=len(centroids), faces=int(counts.sum()),
        sampled=len(vectors), genuine_faces=len(genuine), target=target, proposed=proposed,
        current=domain.effective_threshold, rows=[], impostor=impostor, genuine=genuine,
    )
    base = default_threshold(domain.model_name, domain.alignment)
    thresholds = sorted({round(base * f, 4) for f in TABLE_FACTORS} | {proposed, round(calibration.current, 4)})
    calibration.rows.extend(calibration.row(t) for t in thresholds)
    return calibration


@transaction.atomic
def domain_threshold_set(*, domain: Domain, threshold: float) -> Domain:
    """Store ``threshold`` as the domain's own (recognize uses it from the next query)."""
    was = domain.threshold
    domain.threshold = threshold
    domain.save(update_fields=["threshold"])
    audit_record(action="calibrate.threshold", obj=domain, domain=domain, details={"threshold": threshold, "was": was})
    return domain


def _sampled_faces(domain: Domain, row_of: dict[int, int], *, sample: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random sample of the faces the centroids were made of: their person's row and unit vector."""
    faces = FaceEmbedding.objects.filter(
        domain=domain, model_name=domain.model_name, alignment=domain.alignment, searchable=True,
        person__active=True, person__domain=domain,
    )
    ids = np.array(faces.values_list("id", flat=True))
    if len(ids) > sample:
        ids = np.random.default_rng(seed).choice(ids, size=sample, replace=False)
    rows = faces.filter(id__in=ids.tolist()).order_by("id").values_list("person_id", "embedding")
    person_rows = np.array([row_of[person_id] for person_id, _ in rows])
    vectors = np.array([np.asarray(vector, dtype=np.float64) for _, vector in rows])
    return person_rows, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _impostor_distances(vectors: np.ndarray, person_rows: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """Each face's cosine distance to the nearest centroid of a person that is not its own."""
    units = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    block = max(1, BLOCK_CELLS // len(units))
    nearest = []
    for start in range(0, len(vectors), block):
        similarities = vectors[start:start + block] @ units.T
        similarities[np.arange(len(similarities)), person_rows[start:start + block]] = -np.inf
        nearest.append(1.0 - similarities.max(axis=1))
    return np.concatenate(nearest)


def _genuine_distances(
    vectors: np.ndarray, person_rows: np.ndarray, sums: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Each face's cosine distance to its own person's centroid without it (persons with >= 2 faces)."""
    keep = counts[person_rows] >= 2
    others = sums[person_rows[keep]] - vectors[keep]
    norms = np.linalg.norm(others, axis=1)
    valid = norms > 1e-9  # two identical photos leave nothing to compare with
    cosines = np.einsum("ij,ij->i", vectors[keep][valid], others[valid]) / norms[valid]
    return 1.0 - cosines


def _largest_threshold_within(impostor: np.ndarray, target: float) -> float:
    """The largest threshold (4 decimals) at which at most ``target`` of the impostor distances
    are within it: just under the first distance that would exceed the target."""
    allowed = math.floor(target * len(impostor))
    if allowed >= len(impostor):
        return round(float(impostor[-1]), 4)
    limit = float(impostor[allowed])
    threshold = math.floor(limit * 10_000) / 10_000
    if threshold >= limit:
        threshold -= 0.0001
    return round(max(threshold, 0.0), 4)
