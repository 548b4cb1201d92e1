"""How a face's nearest faces become persons and a match: the person-level decision.

The face-level search (``FaceEmbedding.objects.nearest_persons``, ANN or exact) finds the candidate
persons: those owning one of the face's nearest gallery faces. Each candidate is then scored by the
cosine distance from the face to the person's **centroid** (the mean of the person's unit-length
face vectors in the domain's serving model, computed in SQL from the rows on every search, in the
same statement as the face search: ``nearest_persons(centroids=True)``). Candidates are ordered by
that distance, and the first is the match when it is within the threshold.

Why the centroid and not the nearest face (measured on the dev set: 18 people, 20 random
enrolled/stranger splits, Dlib with chip alignment, 3 photos per person): at 0.06 the nearest face
named 94 % of known faces, the centroid 98 %, both naming no one wrongly; at 0.07 the nearest face
named 2.3 % of strangers, the centroid 1.6 %. What decides it is how the stranger rate grows with
photos per person (1 to 4 photos, at 0.07): nearest face 1.0 / 1.4 / 2.3 / 2.8 %, centroid
1.0 / 1.3 / 1.6 / 1.8 %, and 0.0-0.2 % at 0.06. Every extra gallery face is one more chance for a
stranger to land within the threshold of *some* face, so with the ~1,000 photos per person of the
old deployment the nearest-face rule would name almost every stranger; a centroid only gets more
accurate with more photos. (The mean of a person's 2 nearest faces was between the two.)

The evidence stays in the answer: ``distance`` (to the centroid), ``nearest_face_distance`` (to the
person's nearest single face) and ``faces_matched`` (the person's faces within the threshold among
the candidate faces).

Domains on DeepFace's crop (``deepface`` alignment: the domains that existed before alignments, and
those imported from a DeepFace ``find()`` gallery) keep DeepFace's own rule, the nearest face,
until an operator switches them to the chip: their answers stay exactly what they were, and a
migrated gallery keeps agreeing with the ``DeepFace.find`` it replaces (whose semantics are the
nearest face). The centroid comes with the chip's vector space and its threshold.

Only the persons of the face's nearest 100 faces (``nearest_persons``) are scored: a person none
of whose faces is among them is not considered, even if its centroid were within the threshold.
The mean similarity to a person's faces is at most the best one, so that takes 100 faces of other
persons all nearer than every face of a person whose centroid is still within the threshold; it
keeps the search on the vector index, and a centroid costs one read of the candidates' faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faces.models_zoo import DEEPFACE
from gallery.models import FaceEmbedding
from gallery.querysets import PersonHit

# Candidate persons scored by centroid: the persons of the nearest faces, up to this many (or
# top_k when more are asked for), so that a person second by nearest face but first by centroid
# is in the running whatever top_k the client asks for.
DECISION_PERSONS = 10


@dataclass(frozen=True)
class PersonScore:
    person_id: int
    distance: float  # to the person's centroid: what ranks and matches
    nearest_face_distance: float
    faces_matched: int


def persons_ranked(hits: list[PersonHit]) -> list[PersonScore]:
    """The candidate persons ordered by distance to their centroid (then nearest face, then id);
    a candidate without a centroid distance is dropped (none is, when the hits come from
    ``nearest_persons(centroids=True)``: one statement finds the persons and their faces)."""
    scores = [
        PersonScore(
            person_id=hit.person_id,
            distance=hit.centroid_distance,
            nearest_face_distance=hit.distance,
            faces_matched=hit.faces_matched,
        )
        for hit in hits
        if hit.centroid_distance is not None
    ]
    return sorted(scores, key=lambda score: (score.distance, score.nearest_face_distance, score.person_id))


def match_of(scores: list[PersonScore], threshold: float) -> PersonScore | None:
    """The first person when it is within the threshold, else None (unknown)."""
    return scores[0] if scores and scores[0].distance <= threshold else None


def persons_scored(
    vector: np.ndarray, *, domain_id: int, model_name: str, alignment: str, threshold: float, top_k: int,
    exact: bool = False,
) -> list[PersonScore]:
    """The ``top_k`` persons of one domain nearest to ``vector`` by the person-level rule. ``exact``
    only changes how the candidates are found (exact face search instead of HNSW): the centroids
    are exact either way, so ANN and exact answers compare like with like."""
    centroids = alignment != DEEPFACE
    hits = FaceEmbedding.objects.nearest_persons(
        vector, domain_id=domain_id, model_name=model_name, alignment=alignment, threshold=threshold,
        top_k=max(top_k, DECISION_PERSONS), exact=exact, centroids=centroids,
    )
    return (persons_ranked(hits) if centroids else persons_nearest(hits))[:top_k]


def persons_nearest(hits: list[PersonHit]) -> list[PersonScore]:
    """DeepFace's rule, for domains on its crop: a person's distance is its nearest face's."""
    return [
        PersonScore(person_id=hit.person_id, distance=hit.distance, nearest_face_distance=hit.distance,
                    faces_matched=hit.faces_matched)
        for hit in hits
    ]
