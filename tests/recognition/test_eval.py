"""The accuracy evaluation (bench/eval*.py, ``make eval``): its decision rules and splits on their
own, then a small run on the repository's labelled photos with the real Dlib model, and the
end-to-end check that the real services answer a split exactly as the harness simulates it."""

from __future__ import annotations

import pytest

from bench.eval_data import Box, GroupPhoto, by_person, load_identities
from bench.eval_decision import PRODUCT_RULE, decide, person_scores
from bench.eval_groups import group_recall
from bench.eval_protocol import Gallery, Tally, make_splits, score_queries, tally, top1
from tests.conftest import FACES

# --- decision rules (pure) ----------------------------------------------------------------------


def test_product_rule_names_the_nearest_person_within_the_threshold():
    scores = person_scores([("ann", 0.09), ("bob", 0.05), ("ann", 0.04), ("bob", 0.03)], k=PRODUCT_RULE.k)
    assert [(s.person, s.distance, s.faces) for s in scores] == [("bob", 0.03, 2), ("ann", 0.04, 2)]
    assert decide(scores, threshold=0.07).person == "bob"
    assert decide(scores, threshold=0.025) is None


def test_mean_of_k_nearest_needs_several_close_faces():
    candidates = [("ann", 0.03), ("ann", 0.12), ("bob", 0.05), ("bob", 0.06)]
    scores = person_scores(candidates, k=2)
    assert scores[0].person == "bob" and scores[0].distance == pytest.approx(0.055)
    assert scores[1].distance == pytest.approx(0.075)
    assert decide(person_scores([("ann", 0.03)], k=2), threshold=0.07).person == "ann"  # one face: that face


def test_margin_rejects_a_near_tie_between_two_persons():
    scores = person_scores([("ann", 0.050), ("bob", 0.055)])
    assert decide(scores, threshold=0.07, margin=0.01) is None
    assert decide(scores, threshold=0.07, margin=0.004).person == "ann"


def test_centroid_gallery_has_one_row_per_person():
    import numpy as np

    vectors = {"a1": np.array([1.0, 0.0]), "a2": np.array([0.0, 1.0]), "b1": np.array([-1.0, 0.0])}
    gallery = Gallery({"ann": ["a1", "a2"], "bob": ["b1"]}, vectors, centroid=True)
    assert sorted(gallery.persons) == ["ann", "bob"]
    (ann, distance), _ = sorted(gallery.candidates(np.array([1.0, 0.0])), key=lambda c: c[1])
    assert ann == "ann" and distance == pytest.approx(1 - np.sqrt(0.5))


def test_splits_never_enrol_a_stranger_and_share_their_people_across_photo_counts():
    people = {f"p{i}": [f"p{i}/{j}" for j in range(5 if i < 6 else 2)] for i in range(8)}
    splits = make_splits(people, splits=5, photo_counts=[1, 2, 3], seed=7)
    for by_n in splits:
        assert len({frozenset(split.enrolled) for split in by_n.values()}) == 1
        for n, split in by_n.items():
            enrolled = set(split.enrolled)
            assert len(enrolled) == 3 and enrolled <= {f"p{i}" for i in range(6)}  # only persons with > 3 photos
            assert all(len(photos) == n for photos in split.enrolled.values())
            assert not enrolled & {photo.split("/")[0] for photo in split.strangers}
            assert len(split.held_out) == 2 * 3 and set(split.held_out) <= set(split.known)
            enrolled_photos = {photo for photos in split.enrolled.values() for photo in photos}
            assert not enrolled_photos & {photo for photo, _ in split.known}
    assert splits[0][1].enrolled != splits[1][1].enrolled or splits[0][1].known != splits[1][1].known


def test_group_recall_counts_a_face_once_at_iou_half():
    group = GroupPhoto(path=FACES / "couple.jpg", count=2, boxes=[Box(10, 10, 40, 40), Box(100, 10, 40, 40)])
    detected = [Box(12, 12, 40, 40), Box(14, 10, 40, 40), Box(110, 20, 40, 40)]  # the last: IoU 0.39
    recall = group_recall(group, detected)
    assert (recall.found_iou, recall.found_centre, recall.detected) == (1, 2, 3)


# --- the harness on real photos ------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_photos_embedded():
    """The labelled test photos' faces from the product's pipeline for a new domain's settings."""
    from bench.eval import new_domain, subject_vectors
    from bench.eval_faces import FaceCache, ProductVariant, embed_photos

    domain = new_domain()
    photos = load_identities(FACES)
    names = {photo.name: photo.path for photo in photos}
    variant = ProductVariant(model_name=domain.model_name, detector=domain.detector, alignment=domain.alignment)
    faces = embed_photos(variant, list(names.values()), cache=FaceCache(None), log=lambda message: None)
    people = {person: [photo.name for photo in group] for person, group in by_person(photos).items()}
    return people, names, subject_vectors(faces, names), domain.effective_threshold


@pytest.mark.slow
def test_today_s_product_names_known_people_and_rejects_strangers_on_the_test_photos(test_photos_embedded):
    people, _, vectors, threshold = test_photos_embedded
    assert len(people) == 13 and all(vector is not None for vector in vectors.values())
    open_total, closed = Tally(), [0, 0]
    for open_split, closed_split in zip(
        make_splits(people, splits=20, photo_counts=[3], seed=0),
        make_splits(people, splits=20, photo_counts=[1], seed=0, enrol_share=1.0),
        strict=True,
    ):
        split = open_split[3]
        gallery = Gallery(split.enrolled, vectors)
        scores = score_queries(gallery, vectors, rule=PRODUCT_RULE, known=split.known, strangers=split.strangers)
        open_total.add(tally(scores, threshold=threshold, margin=PRODUCT_RULE.margin))
        split = closed_split[1]
        correct, queries = top1(
            score_queries(Gallery(split.enrolled, vectors), vectors, rule=PRODUCT_RULE, known=split.known, strangers=[])
        )
        closed = [closed[0] + correct, closed[1] + queries]
    shares = open_total.shares()
    print(f"open set at {threshold}: {shares}; closed-set top-1 with one photo: {closed[0]}/{closed[1]}")
    # Today (DeepFace crop, nearest face, 0.07): 0.996 right, 0 wrong, 0.008 strangers named, top-1 1.0.
    assert shares["known_queries"] > 200 and shares["stranger_queries"] > 700
    assert shares["known_right"] >= 0.95
    assert shares["named_wrong"] <= 0.01
    assert shares["strangers_named"] <= 0.04
    assert closed[0] / closed[1] >= 0.97


@pytest.mark.slow
def test_same_person_pairs_are_nearer_than_different_person_pairs(test_photos_embedded):
    from bench.eval import pair_distances

    _, _, vectors, threshold = test_photos_embedded
    pairs = pair_distances(vectors, vectors, [threshold])
    # Today: 95 % of same-person pairs within 0.068, 95 % of different-person pairs beyond 0.100.
    assert pairs["same_quantiles"]["0.95"] < pairs["different_quantiles"]["0.05"]
    assert pairs["by_threshold"][0]["different_accepted"] <= 0.005


@pytest.mark.slow
def test_real_services_answer_a_split_as_the_harness_simulates_it(test_photos_embedded, alpha):
    from bench.eval_e2e import e2e_check

    people, names, vectors, _ = test_photos_embedded
    split = make_splits(people, splits=1, photo_counts=[3], seed=0)[0][3]
    result = e2e_check(domain=alpha, split=split, paths=names, vectors=vectors)
    print(result.as_dict())
    assert result.enrolled_photos == 3 * len(split.enrolled)
    assert result.queries == len(split.known) + len(split.strangers) > 40
    assert result.ok, result.disagreements
    assert result.max_distance_diff <= 1e-4
    # Both outcomes were there to agree on: some queries named a person, others unknown.
    assert 0 < result.matched < result.queries
