"""The protocol of ``make eval``: repeated random splits of labelled people into enrolled persons
and strangers, each query decided by bench.eval_decision over the split's gallery.

Pure numpy and Python over embeddings already computed (bench.eval_faces), so every split, rule and
threshold reuses the same vectors. Distances are cosine distances (1 − cos), as pgvector's ``<=>``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from bench.eval_decision import PersonScore, Rule, decide, person_scores


@dataclass(frozen=True)
class Split:
    enrolled: dict[str, list[str]]  # person -> the photos it is enrolled with
    known: list[tuple[str, str]]  # (photo, person): the enrolled persons' other photos
    held_out: list[tuple[str, str]]  # the part of ``known`` that no photo count of this split enrols
    strangers: list[str]  # photos of persons who are not enrolled


def make_splits(
    people: dict[str, list[str]], *, splits: int, photo_counts: list[int], seed: int, enrol_share: float = 0.5
) -> list[dict[int, Split]]:
    """For each split, one random choice of enrolled persons (``enrol_share`` of those who can be)
    and one random order of every person's photos; with n photos per person an enrolled person
    gets the first n of its order and is queried with the others. A person needs more photos than
    the largest n to be enrolled; the others are always strangers. The persons and the orders are
    the same for every n of a split, so the photos-per-person trend compares like with like."""
    most = max(photo_counts)
    eligible = sorted(person for person, photos in people.items() if len(photos) > most)
    if not eligible:
        raise ValueError(f"no person has more than {most} photos")
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(splits):
        chosen = set(rng.permutation(eligible)[: max(1, round(len(eligible) * enrol_share))].tolist())
        order = {person: [photos[i] for i in rng.permutation(len(photos))] for person, photos in sorted(people.items())}
        result.append({n: _split(order, chosen, n, most) for n in photo_counts})
    return result


def _split(order: dict[str, list[str]], chosen: set[str], n: int, most: int) -> Split:
    enrolled = {person: photos[:n] for person, photos in order.items() if person in chosen}
    known = [(photo, person) for person in enrolled for photo in order[person][n:]]
    held_out = [(photo, person) for person in enrolled for photo in order[person][most:]]
    strangers = [photo for person, photos in order.items() if person not in chosen for photo in photos]
    return Split(enrolled=enrolled, known=known, held_out=held_out, strangers=strangers)


def unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


class Gallery:
    """A split's enrolled faces (or, for a centroid rule, one mean vector per person)."""

    def __init__(self, enrolled: dict[str, list[str]], vectors: dict[str, np.ndarray | None], *, centroid: bool = False):
        rows = [(person, vectors[photo]) for person, photos in enrolled.items() for photo in photos if vectors[photo] is not None]
        if centroid:
            grouped: dict[str, list[np.ndarray]] = defaultdict(list)
            for person, vector in rows:
                grouped[person].append(vector)
            rows = [(person, unit(np.mean(group, axis=0))) for person, group in grouped.items()]
        self.persons = [person for person, _ in rows]
        self.matrix = np.stack([vector for _, vector in rows]) if rows else np.zeros((0, 1))

    def candidates(self, vector: np.ndarray) -> list[tuple[str, float]]:
        """(person, cosine distance) of every gallery row; ``vector`` must be a unit vector."""
        if not self.persons:
            return []
        return list(zip(self.persons, (1.0 - self.matrix @ vector).tolist(), strict=True))


@dataclass
class Tally:
    known: int = 0
    right: int = 0
    wrong: int = 0
    strangers: int = 0
    strangers_named: int = 0

    def add_known(self, decision: PersonScore | None, truth: str) -> None:
        self.known += 1
        if decision is not None:
            self.right += decision.person == truth
            self.wrong += decision.person != truth

    def add_stranger(self, decision: PersonScore | None) -> None:
        self.strangers += 1
        self.strangers_named += decision is not None

    def add(self, other: Tally) -> None:
        for name in ("known", "right", "wrong", "strangers", "strangers_named"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def shares(self) -> dict:
        known, strangers = max(self.known, 1), max(self.strangers, 1)
        return {
            "known_right": round(self.right / known, 4),
            "named_wrong": round(self.wrong / known, 4),
            "rejected": round((self.known - self.right - self.wrong) / known, 4),
            "strangers_named": round(self.strangers_named / strangers, 4),
            "known_queries": self.known,
            "stranger_queries": self.strangers,
        }


@dataclass
class SplitScores:
    """Each query's ranked persons, computed once and then decided at every threshold."""

    known: list[tuple[list[PersonScore], str]] = field(default_factory=list)
    strangers: list[list[PersonScore]] = field(default_factory=list)


def score_queries(
    gallery: Gallery, vectors: dict[str, np.ndarray | None], *, rule: Rule, known: list[tuple[str, str]], strangers: list[str]
) -> SplitScores:
    """A photo without a face ranks nobody (the product answers it with no face)."""

    def ranked(photo: str) -> list[PersonScore]:
        vector = vectors[photo]
        return [] if vector is None else person_scores(gallery.candidates(vector), k=rule.k)

    return SplitScores(known=[(ranked(photo), person) for photo, person in known], strangers=[ranked(photo) for photo in strangers])


def tally(scores: SplitScores, *, threshold: float, margin: float) -> Tally:
    result = Tally()
    for ranked, truth in scores.known:
        result.add_known(decide(ranked, threshold=threshold, margin=margin), truth)
    for ranked in scores.strangers:
        result.add_stranger(decide(ranked, threshold=threshold, margin=margin))
    return result


def top1(scores: SplitScores) -> tuple[int, int]:
    """(correct, queries) of the closed-set question: is the nearest person the right one?"""
    correct = sum(bool(ranked) and ranked[0].person == truth for ranked, truth in scores.known)
    return correct, len(scores.known)
