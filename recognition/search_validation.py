"""How far approximate (HNSW) search agrees with exact search: the numbers behind dual mode,
``manage.py validate_search`` and the search benchmark.

- ``recall_at_k``: of the ``k`` nearest *faces* by exact search, the share that ANN also returns
  among its ``k`` (faces, not persons: the stricter of the two, since persons are grouped from faces);
- ``top1_agreement``: the share of queries whose best *person* is the same both ways;
- ``top5_overlap``: the mean share of the exact top-5 persons that ANN also lists;
- ``match_agreement``: the share of queries whose *answer* is the same: the same matched person
  within the threshold, or "unknown" both ways. For an unknown face the top-1 candidate is often one
  of several near-equidistant strangers, so top-1 agreement understates what a client sees.
Persons and answers are the person-level decision's (``recognition.decision.persons_scored``: the
candidates of the face search ranked by distance to their centroid), ANN and exact, so both sides
apply the same rule and differ only in how the candidate faces were found; latencies are of it too
(what recognize runs per face).
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass

import numpy as np

from gallery.models import FaceEmbedding
from recognition.decision import match_of, persons_scored


@dataclass(frozen=True)
class Agreement:
    queries: int
    k: int
    recall_at_k: float
    min_recall: float  # the worst single query
    top1_agreement: float
    top5_overlap: float
    match_agreement: float
    ann_p50_ms: float
    ann_p95_ms: float
    exact_p50_ms: float
    exact_p95_ms: float

    def as_dict(self) -> dict:
        return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in asdict(self).items()}


def recall(ann: list[int], exact: list[int]) -> float:
    """Share of ``exact`` found in ``ann`` (1.0 when exact search found nothing either)."""
    return len(set(ann) & set(exact)) / len(exact) if exact else 1.0


def compare_person_lists(ann: list[int], exact: list[int]) -> dict:
    """Dual mode for one face: top-1 agreement and top-5 overlap of two person-id rankings."""
    ann5, exact5 = ann[:5], exact[:5]
    overlap = len(set(ann5) & set(exact5))
    return {
        "top1_match": ann5[:1] == exact5[:1],
        "top5_overlap": overlap,
        "top5_overlap_pct": round(100.0 * overlap / len(exact5), 1) if exact5 else 100.0,
    }


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def _timed(call, *args, **kwargs):
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return result, (time.perf_counter() - started) * 1000


def _search_all(vectors: np.ndarray, *, exact: bool, k: int, top_k: int, threshold: float, scope: dict):
    """Every vector's persons (timed: what recognize runs per face) and nearest ``k`` faces."""
    persons, matches, faces, latencies = [], [], [], []
    search = functools.partial(persons_scored, threshold=threshold, top_k=top_k, exact=exact, **scope)
    for vector in vectors:
        scores, ms = _timed(search, vector)
        persons.append([score.person_id for score in scores])
        match = match_of(scores, threshold)
        matches.append(match.person_id if match else None)
        latencies.append(ms)
        faces.append([hit.face_id for hit in FaceEmbedding.objects.nearest_faces(vector, k=k, exact=exact, **scope)])
    return persons, matches, faces, latencies


def measure_agreement(
    vectors: np.ndarray,
    *,
    domain_id: int,
    model_name: str,
    alignment: str,
    threshold: float,
    k: int = 10,
    top_k: int = 5,
) -> Agreement:
    """Run every vector through ANN and exact search of one domain and compare the answers.

    All ANN searches run first, then all exact ones: an exact scan between two ANN searches
    would push the index out of the buffer cache, which a server answering queries never does."""
    scope = {"domain_id": domain_id, "model_name": model_name, "alignment": alignment}
    settings = {"k": k, "top_k": top_k, "threshold": threshold, "scope": scope}
    ann_persons, ann_matches, ann_faces, ann_ms = _search_all(vectors, exact=False, **settings)
    exact_persons, exact_matches, exact_faces, exact_ms = _search_all(vectors, exact=True, **settings)
    recalls = [recall(ann, exact) for ann, exact in zip(ann_faces, exact_faces, strict=True)]
    agreements = [compare_person_lists(ann, exact) for ann, exact in zip(ann_persons, exact_persons, strict=True)]
    top1 = [agreement["top1_match"] for agreement in agreements]
    overlaps = [agreement["top5_overlap_pct"] / 100 for agreement in agreements]
    return Agreement(
        queries=len(recalls),
        k=k,
        recall_at_k=float(np.mean(recalls)) if recalls else 1.0,
        min_recall=float(np.min(recalls)) if recalls else 1.0,
        top1_agreement=float(np.mean(top1)) if top1 else 1.0,
        top5_overlap=float(np.mean(overlaps)) if overlaps else 1.0,
        match_agreement=float(np.mean([a == e for a, e in zip(ann_matches, exact_matches, strict=True)])) if vectors.size else 1.0,
        ann_p50_ms=_percentile(ann_ms, 50),
        ann_p95_ms=_percentile(ann_ms, 95),
        exact_p50_ms=_percentile(exact_ms, 50),
        exact_p95_ms=_percentile(exact_ms, 95),
    )
