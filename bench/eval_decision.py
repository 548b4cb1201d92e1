"""How a face's nearest gallery faces become a person and a match: the decision rules that
``make eval`` compares, as pure functions over (person, cosine distance) candidates.

``PRODUCT_RULE`` is the product's decision (recognition/decision.py): a person's distance is the
cosine distance to the mean of its unit-length face vectors (its centroid), and the match is the
nearest person when that distance is within the domain's threshold. The product computes it in
SQL over the gallery's rows; the harness, which scores thousands of splits, computes the same
thing in numpy, and ``python -m bench.eval --e2e`` (and tests/recognition/test_eval.py) checks on
one split that the real services answer exactly as ``PRODUCT_RULE`` does here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """``k``: a person's distance is the mean of its ``k`` nearest faces (1: its nearest face).
    ``centroid``: the candidates are one mean vector per person instead of its faces (the harness
    builds them; here that is the ``k`` = 1 rule over those vectors). ``margin``: the best person
    must also be at least this much nearer than the runner-up."""

    name: str
    k: int = 1
    centroid: bool = False
    margin: float = 0.0


PRODUCT_RULE = Rule("centroid (product)", centroid=True)


@dataclass(frozen=True)
class PersonScore:
    person: Hashable
    distance: float
    faces: int  # the person's faces among the candidates the distance was taken from


def person_scores(candidates: Iterable[tuple[Hashable, float]], *, k: int = 1) -> list[PersonScore]:
    """Persons ranked by the mean distance of their ``k`` nearest candidate faces, nearest first
    (a person with fewer candidates than ``k`` is scored on those it has)."""
    distances: dict[Hashable, list[float]] = defaultdict(list)
    for person, distance in candidates:
        distances[person].append(float(distance))
    scores = []
    for person, values in distances.items():
        nearest = sorted(values)[:k]
        scores.append(PersonScore(person=person, distance=sum(nearest) / len(nearest), faces=len(values)))
    return sorted(scores, key=lambda score: (score.distance, str(score.person)))


def decide(scores: list[PersonScore], *, threshold: float, margin: float = 0.0) -> PersonScore | None:
    """The matched person, or None (unknown): the nearest person when its distance is within
    ``threshold`` and, with a ``margin``, the runner-up is at least ``margin`` farther."""
    if not scores or scores[0].distance > threshold:
        return None
    if margin and len(scores) > 1 and scores[1].distance - scores[0].distance < margin:
        return None
    return scores[0]
