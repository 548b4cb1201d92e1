"""Shadow mode: search a domain's legacy DeepFace gallery file the way ``DeepFace.find`` did, beside
pgvector, and compare the two answers (README, "Cut-over from a pickle gallery: shadow mode").

What the shadow side compares: the query face's vector, the one pgvector searches (the domain's
model on DeepFace's crop: services.shadow_file_check only lets a ``deepface``-aligned domain be
shadowed), against every vector of the file by brute force, with ``DeepFace.find``'s metric and
threshold: cosine distance ``1 - a.b / (|a| |b|)`` (deepface ``find_cosine_distance``) and the
model's threshold from DeepFace's table (``deepface.modules.verification.find_threshold``, copied
in faces.models_zoo), keeping the rows within it, nearest first. A row's person is its identity's
parent folder, as import_pkl names persons, and the two sides are compared by person name within
the domain: the pickle knows no person ids.

Both sides' top-5 lists are the persons *within their threshold* (what ``find`` returned and what
the old server could answer), nearest first, so "unknown both ways" is an agreement; the overlap
is measured against the pickle's list (recognition.search_validation.compare_person_lists).

The file is loaded once per process (per path, shared by the domains naming it) into one unit
float32 matrix, rows grouped by person, plus an int32 person code per row and the names; it is
reloaded when its mtime or size changes.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from django.db.models import Avg, Count, Max, Q

from facerec.logging import current_request_id
from facerec.metrics import shadow_observed
from faces.models_zoo import COSINE_THRESHOLDS
from gallery import services as gallery_services
from gallery.models import Domain, ShadowComparison
from gallery.pkl_import import PklError, records_load
from recognition.search_validation import compare_person_lists

logger = logging.getLogger("facerec.shadow")

TOP = 5  # the old server's comparison: top-1 and the top-5 overlap


@dataclass(frozen=True)
class LegacyHit:
    """A person of the legacy file: the distance to its nearest row and its rows within the threshold."""

    name: str
    distance: float
    rows_matched: int


@dataclass(frozen=True)
class LegacyGallery:
    path: str
    stamp: tuple[float, int]  # (mtime, size) when loaded
    vectors: np.ndarray  # (rows, dims) float32, unit length, grouped by person
    starts: np.ndarray  # first row of each person
    names: tuple[str, ...]  # person names, in the order of ``starts``

    @property
    def nbytes(self) -> int:
        return self.vectors.nbytes + self.starts.nbytes + sum(len(name) for name in self.names)

    def nearest(self, vector: np.ndarray, *, threshold: float, top: int) -> list[LegacyHit]:
        """The ``top`` persons nearest to ``vector`` by their nearest row (DeepFace.find's distance)."""
        query = np.asarray(vector, dtype=np.float32)
        distances = 1.0 - self.vectors @ (query / np.linalg.norm(query))
        per_person = np.minimum.reduceat(distances, self.starts)
        within = np.add.reduceat(distances <= threshold, self.starts)
        top = min(top, len(per_person))
        best = np.argpartition(per_person, top - 1)[:top]
        best = best[np.lexsort((best, per_person[best]))]
        return [LegacyHit(self.names[i], float(per_person[i]), int(within[i])) for i in best]


def gallery_load(path: str | Path) -> LegacyGallery:
    path = Path(path)
    stat = path.stat()
    records = [record for record in records_load(path) if record.embedding is not None]
    if not records:
        raise PklError(f"{path.name} holds no face vectors")
    records.sort(key=lambda record: record.person_name)
    names = [record.person_name for record in records]
    vectors = np.stack([record.embedding for record in records]).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.float32(1e-10))
    starts = np.flatnonzero([i == 0 or names[i] != names[i - 1] for i in range(len(names))]).astype(np.intp)
    return LegacyGallery(
        path=str(path), stamp=(stat.st_mtime, stat.st_size), vectors=vectors, starts=starts,
        names=tuple(names[i] for i in starts),
    )


_loaded: dict[str, LegacyGallery] = {}
_lock = threading.Lock()


def legacy_gallery(path: str) -> LegacyGallery:
    """The file's gallery, loaded once per process and again when the file changes."""
    stat = os.stat(path)
    cached = _loaded.get(path)
    if cached is not None and cached.stamp == (stat.st_mtime, stat.st_size):
        return cached
    with _lock:  # one load per change, however many requests arrive meanwhile
        cached = _loaded.get(path)
        if cached is None or cached.stamp != (stat.st_mtime, stat.st_size):
            cached = _loaded[path] = gallery_load(path)
            logger.info("loaded legacy gallery %s: %d rows, %d persons, %.1f MB", path, len(cached.vectors),
                        len(cached.names), cached.nbytes / 1e6)
        return cached


def legacy_threshold(domain: Domain) -> float:
    """DeepFace.find's threshold for the domain's model (cosine, DeepFace's crop)."""
    return COSINE_THRESHOLDS[domain.model_name]


def legacy_search(vector: np.ndarray, *, domain: Domain, top: int) -> list[LegacyHit] | None:
    """The legacy file's nearest persons, or None when the file cannot be searched now (logged and
    counted: recognize then answers from pgvector alone)."""
    try:
        return legacy_gallery(domain.shadow_file).nearest(vector, threshold=legacy_threshold(domain), top=top)
    except (OSError, PklError, ValueError) as exc:
        logger.error("shadow mode: cannot search %s for domain %s: %s", domain.shadow_file, domain.slug, exc)
        shadow_observed(domain=domain.slug, result="error")
        return None


@dataclass(frozen=True)
class ShadowAgreement:
    """Shadow mode, for one face: the old server's comparison fields, and both sides' lists (names of
    the persons within each side's threshold, nearest first)."""

    top1_match: bool
    pkl_top1: str | None
    pgvector_top1: str | None
    top5_overlap: int
    top5_overlap_pct: float
    pkl_top5: list[str]
    pgvector_top5: list[str]
    pkl_distance: float | None  # of pkl_top1
    pgvector_distance: float | None  # of pgvector_top1
    answer_from: str

    def record(self) -> dict:
        """Its ShadowComparison row's fields."""
        return {
            "top1_match": self.top1_match, "pkl_top1": self.pkl_top1, "pgvector_top1": self.pgvector_top1,
            "pkl_distance": self.pkl_distance, "pgvector_distance": self.pgvector_distance,
            "top5_overlap": self.top5_overlap, "top5_overlap_pct": self.top5_overlap_pct,
        }


def agreement(
    pgvector: list[tuple[str, float]], legacy: list[LegacyHit], *, threshold: float, legacy_threshold: float,
    answer_from: str,
) -> ShadowAgreement:
    """Compare pgvector's (name, distance) ranking with the legacy file's, each cut at its threshold."""
    ours = [(name, distance) for name, distance in pgvector if distance <= threshold][:TOP]
    theirs = [hit for hit in legacy if hit.distance <= legacy_threshold][:TOP]
    ours_names, their_names = _unique([name for name, _ in ours]), _unique([hit.name for hit in theirs])
    return ShadowAgreement(
        **compare_person_lists(ours_names, their_names),
        pkl_top1=their_names[0] if their_names else None,
        pgvector_top1=ours_names[0] if ours_names else None,
        pkl_top5=their_names, pgvector_top5=ours_names,
        pkl_distance=theirs[0].distance if theirs else None,
        pgvector_distance=ours[0][1] if ours else None,
        answer_from=answer_from,
    )


def _unique(names: list[str]) -> list[str]:
    # Two persons of one name in a domain are one person to the comparison (the pickle's folder).
    return list(dict.fromkeys(names))


def comparisons_record(domain: Domain, agreements: list[ShadowAgreement]) -> None:
    """Store, count and log (each disagreement, one line) a recognize's comparisons."""
    if not agreements:
        return
    request_id = current_request_id() or ""
    gallery_services.shadow_comparisons_record(
        domain=domain, comparisons=[a.record() for a in agreements], request_id=request_id
    )
    for item in agreements:
        shadow_observed(domain=domain.slug, result="agree" if item.top1_match else "disagree")
        if not item.top1_match:
            logger.warning(
                "shadow disagreement", extra={
                    "event": "shadow_disagreement", "domain": domain.slug, "pkl_top1": item.pkl_top1,
                    "pgvector_top1": item.pgvector_top1, "pkl_distance": item.pkl_distance,
                    "pgvector_distance": item.pgvector_distance, "top5_overlap_pct": item.top5_overlap_pct,
                    "answer_from": item.answer_from,
                },
            )


@dataclass(frozen=True)
class Disagreement:
    pkl_top1: str | None
    pgvector_top1: str | None
    count: int
    last_request_id: str


@dataclass(frozen=True)
class ShadowReport:
    """A domain's stored comparisons since a time: what shadow_report prints."""

    comparisons: int
    top1_agreement: float  # share of faces with the same top-1 person (unknown both ways agrees)
    top5_overlap: float  # mean share of the pickle's top-5 persons that pgvector also lists
    worst: list[Disagreement]  # the most frequent (pkl, pgvector) disagreements, most frequent first


def shadow_report(domain: Domain, *, since: datetime | None = None, worst: int = 10) -> ShadowReport:
    """The domain's comparisons since ``since`` (all when None), for ``manage.py shadow_report``."""
    rows = ShadowComparison.objects.filter(domain=domain)
    if since is not None:
        rows = rows.filter(created__gte=since)
    totals = rows.aggregate(n=Count("id"), agree=Count("id", filter=Q(top1_match=True)), overlap=Avg("top5_overlap_pct"))
    pairs = list(
        rows.filter(top1_match=False).values("pkl_top1", "pgvector_top1")
        .annotate(count=Count("id"), last=Max("created")).order_by("-count", "-last")[:worst]
    )
    disagreements = rows.filter(top1_match=False).order_by("-created").values_list("request_id", flat=True)
    last_ids = {  # at most ``worst`` lookups, each on the (domain, created) index
        (p["pkl_top1"], p["pgvector_top1"]): disagreements.filter(pkl_top1=p["pkl_top1"], pgvector_top1=p["pgvector_top1"]).first()
        for p in pairs
    }
    n = totals["n"]
    return ShadowReport(
        comparisons=n,
        top1_agreement=totals["agree"] / n if n else 0.0,
        top5_overlap=(totals["overlap"] or 0.0) / 100 if n else 0.0,
        worst=[
            Disagreement(p["pkl_top1"], p["pgvector_top1"], p["count"], last_ids.get((p["pkl_top1"], p["pgvector_top1"]), ""))
            for p in pairs
        ],
    )
