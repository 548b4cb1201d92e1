"""The end-to-end check of ``make eval``: one split enrolled through the real services into a real
domain (PostgreSQL + pgvector) and queried through the real recognize service, which must answer
every query as the harness's simulation of that split does.

The simulation decides with bench.eval_decision over vectors the harness computed (and cached)
with the product's pipeline; the services embed every photo again and search with SQL. Agreement
shows that the cached vectors are the product's and that the decision the harness evaluates is the
one the product makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.eval_decision import PRODUCT_RULE, Rule, decide, person_scores
from bench.eval_protocol import Gallery, Split

DISTANCE_TOLERANCE = 1e-4  # pgvector keeps float4 vectors; the harness computes in float64


@dataclass
class E2EResult:
    enrolled_photos: int = 0
    queries: int = 0
    matched: int = 0  # queries the product named someone for
    agreed: int = 0
    max_distance_diff: float = 0.0
    disagreements: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.queries > 0 and self.agreed == self.queries

    def as_dict(self) -> dict:
        return {
            "enrolled_photos": self.enrolled_photos,
            "queries": self.queries,
            "matched": self.matched,
            "agreed": self.agreed,
            "max_distance_diff": self.max_distance_diff,
            "disagreements": self.disagreements[:20],
            "ok": self.ok,
        }


def enrol(domain, split: Split, paths: dict[str, Path]) -> int:
    """Every enrolment photo of the split, through gallery.services.photo_add."""
    from gallery.services import person_get_or_create, photo_add

    for name, photos in split.enrolled.items():
        person, _ = person_get_or_create(domain=domain, name=name)
        for photo in photos:
            photo_add(person=person, data=paths[photo].read_bytes(), source_name=photo)
    return sum(len(photos) for photos in split.enrolled.values())


def e2e_check(
    *, domain, split: Split, paths: dict[str, Path], vectors: dict[str, np.ndarray | None], rule: Rule = PRODUCT_RULE
) -> E2EResult:
    """Enrol ``split`` into the empty ``domain``, then ask recognize about each of its queries."""
    from recognition.services import recognize

    if rule != PRODUCT_RULE:
        raise ValueError("the services decide with the product's rule only")
    result = E2EResult(enrolled_photos=enrol(domain, split, paths))
    threshold = domain.effective_threshold
    gallery = Gallery(split.enrolled, vectors, centroid=rule.centroid)
    for photo in [photo for photo, _ in split.known] + split.strangers:
        answer = recognize(paths[photo].read_bytes(), domain=domain)
        product = _product_answer(answer)
        vector = vectors[photo]
        ranked = [] if vector is None else person_scores(gallery.candidates(vector), k=rule.k)
        decision = decide(ranked, threshold=threshold, margin=rule.margin)
        simulated = (decision.person if decision else None, ranked[0].person if ranked else None, ranked[0].distance if ranked else None)
        _compare(result, photo, product, simulated)
    return result


def _product_answer(answer) -> tuple[str | None, str | None, float | None]:
    """(matched person, nearest person, its distance) for the photo's largest face."""
    if not answer.faces:
        return None, None, None
    face = answer.faces[0]
    nearest = face.candidates[0] if face.candidates else None
    return (
        face.match.person.name if face.match else None,
        nearest.person.name if nearest else None,
        nearest.distance if nearest else None,
    )


def _compare(result: E2EResult, photo: str, product: tuple, simulated: tuple) -> None:
    result.queries += 1
    result.matched += product[0] is not None
    diff = abs(product[2] - simulated[2]) if product[2] is not None and simulated[2] is not None else 0.0
    result.max_distance_diff = max(result.max_distance_diff, round(diff, 8))
    same = product[:2] == simulated[:2] and diff <= DISTANCE_TOLERANCE and (product[2] is None) == (simulated[2] is None)
    if same:
        result.agreed += 1
    else:
        result.disagreements.append({"photo": photo, "product": list(product), "simulated": list(simulated)})
