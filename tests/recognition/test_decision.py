"""The person-level decision (recognition/decision.py): candidates are ranked and matched by the
distance to each person's centroid. Hand-placed vectors test the rule itself; the last test runs the
real model on photos."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bench.synthetic import gallery_load
from gallery.models import Domain, FaceEmbedding, Person
from gallery.querysets import PersonHit
from recognition.decision import match_of, persons_ranked, persons_scored
from tests.conftest import add_photos, face_bytes

DIM = 128


def unit(*weights: tuple[int, float]) -> np.ndarray:
    vector = np.zeros(DIM)
    for axis, weight in weights:
        vector[axis] = weight
    return vector / np.linalg.norm(vector)


def load(domain: Domain, persons: list[list[np.ndarray]]) -> list[Person]:
    """Persons with these face vectors, in ``domain``; returns them in order."""
    vectors = np.array([face for faces in persons for face in faces], dtype=np.float32)
    person_of = np.array([i for i, faces in enumerate(persons) for _ in faces])
    gallery_load(domain, SimpleNamespace(vectors=vectors, person_of=person_of, centroids=np.zeros((len(persons), DIM))),
                 name_prefix=domain.slug)
    return [Person.objects.get(domain=domain, name=f"{domain.slug} {i}") for i in range(len(persons))]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return 1 - float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))


# Person A: four photos spread around axis 0, each 0.056 from A's centroid and 0.109 from each other.
SPREAD = [unit((0, 1), (axis, 0.35)) for axis in (1, 2, 3, 4)]
# A stranger 0.050 from A's first photo but 0.090 from A's centroid.
STRANGER = unit((0, 1), (1, 0.35), (5, 0.35))


def test_candidates_are_ranked_by_centroid_and_keep_the_nearest_face_as_evidence():
    hits = [
        PersonHit(person_id=1, distance=0.03, faces_matched=1, centroid_distance=0.09),
        PersonHit(person_id=2, distance=0.05, faces_matched=3, centroid_distance=0.06),
    ]

    ranked = persons_ranked(hits)

    assert [(s.person_id, s.distance, s.nearest_face_distance, s.faces_matched) for s in ranked] == [
        (2, 0.06, 0.05, 3), (1, 0.09, 0.03, 1)
    ]
    assert match_of(ranked, 0.07).person_id == 2
    assert match_of(ranked, 0.055) is None
    assert persons_ranked([PersonHit(person_id=1, distance=0.03, faces_matched=1)]) == []  # no centroid asked for


@pytest.mark.django_db
def test_stranger_near_one_photo_but_far_from_the_centroid_is_not_named():
    domain = Domain.objects.create(slug="spread", name="spread")
    person_a, person_b = load(domain, [SPREAD, [unit((10, 1), (11, 0.2)), unit((10, 1), (12, 0.2))]])

    scores = persons_scored(STRANGER, domain_id=domain.id, model_name="Dlib", alignment=domain.alignment, threshold=0.07, top_k=5)

    assert scores[0].person_id == person_a.id
    assert scores[0].nearest_face_distance == pytest.approx(0.0505, abs=1e-3)  # the nearest face would name A
    assert scores[0].distance == pytest.approx(0.0902, abs=1e-3)
    assert scores[0].faces_matched == 1
    assert match_of(scores, 0.07) is None
    # A new photo near A's centroid is named, although no single photo of A is nearer than 0.05.
    near_centre = unit((0, 1), (1, 0.1), (2, 0.1), (3, 0.1), (4, 0.1))
    scope = {"domain_id": domain.id, "model_name": "Dlib", "alignment": domain.alignment}
    named = match_of(persons_scored(near_centre, threshold=0.07, top_k=5, **scope), 0.07)
    assert named.person_id == person_a.id and named.distance < 0.01 < named.nearest_face_distance
    assert person_b.id not in [s.person_id for s in scores if s.distance <= 0.07]


@pytest.mark.django_db
def test_centroids_never_mix_domains_and_skip_inactive_persons():
    alpha = Domain.objects.create(slug="alpha", name="alpha")
    beta = Domain.objects.create(slug="beta", name="beta")
    (mine,) = load(alpha, [SPREAD])
    # beta's person has the same photos plus one exactly on the stranger: it must not pull alpha's centroid.
    (theirs,) = load(beta, [[*SPREAD, STRANGER]])
    scope = {"domain_id": alpha.id, "model_name": "Dlib", "alignment": alpha.alignment}

    hits = FaceEmbedding.objects.nearest_persons(STRANGER, threshold=0.07, top_k=5, centroids=True, **scope)

    assert [hit.person_id for hit in hits] == [mine.id]
    assert hits[0].centroid_distance == pytest.approx(0.0902, abs=1e-3)
    assert hits[0].distance == pytest.approx(0.0505, abs=1e-3)
    # A face of mine that is not searchable (below the domain's quality bar) is not in the centroid.
    FaceEmbedding.objects.filter(person=mine, embedding=SPREAD[1].astype(np.float32)).update(searchable=False)
    moved = FaceEmbedding.objects.nearest_persons(STRANGER, threshold=0.07, top_k=5, centroids=True, **scope)
    assert moved[0].centroid_distance == pytest.approx(_cosine(STRANGER, np.mean([SPREAD[i] for i in (0, 2, 3)], axis=0)), abs=1e-5)
    FaceEmbedding.objects.filter(person=mine).update(searchable=True)
    assert [c.person_id for c in FaceEmbedding.objects.person_centroids(**scope)] == [mine.id]
    assert [s.person_id for s in persons_scored(STRANGER, threshold=0.07, top_k=5, **scope)] == [mine.id]
    Person.objects.filter(pk=mine.pk).update(active=False)
    assert FaceEmbedding.objects.nearest_persons(STRANGER, threshold=0.07, top_k=5, centroids=True, **scope) == []


@pytest.mark.django_db
def test_exact_and_approximate_search_apply_the_same_rule():
    domain = Domain.objects.create(slug="spread", name="spread")
    load(domain, [SPREAD, [unit((10, 1), (11, 0.2))]])

    scope = {"domain_id": domain.id, "model_name": "Dlib", "alignment": domain.alignment}
    ann = persons_scored(STRANGER, threshold=0.07, top_k=5, **scope)
    exact = persons_scored(STRANGER, threshold=0.07, top_k=5, exact=True, **scope)

    assert ann == exact and ann[0].distance > ann[0].nearest_face_distance


def test_real_photos_a_stranger_like_one_photo_of_a_person_is_not_named(alice, alpha):
    # id07's three photos and one of id03 filed under the same person (a mislabelled photo: the
    # case where one gallery face sits near a stranger). Another photo of id03 is 0.04 from that
    # photo, well within the threshold, and 0.15 from the person's centroid.
    add_photos(alpha, "Filed with a stranger's photo", "img29.jpg", "img30.jpg", "img31.jpg", "img47.jpg")
    add_photos(alpha, "Someone else", "img1.jpg", "img2.jpg")

    response = alice.client.post("/api/v1/recognize", {"image": _upload("img49.jpg")}, format="multipart")

    assert response.status_code == 200, response.content
    body = response.json()
    face = body["faces"][0]
    (filed,) = [c for c in face["candidates"] if c["person"]["name"] == "Filed with a stranger's photo"]
    assert face["match"] is None
    assert filed["nearest_face_distance"] <= body["threshold"] < filed["distance"]
    assert filed["faces_matched"] == 1
    assert face["candidates"] == sorted(face["candidates"], key=lambda c: c["distance"])


def _upload(name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, face_bytes(name), content_type="image/jpeg")
