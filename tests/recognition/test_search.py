"""Search correctness: approximate (HNSW) search agrees with exact search per domain, whatever
else is in the table, and never returns inactive persons. Synthetic clustered vectors (a centroid
per person plus noise) stand in for faces; the end-to-end tests use the real model on photos."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

from bench.synthetic import clustered, gallery_load
from gallery import indexes
from gallery.models import Domain, FaceEmbedding, Person
from gallery.querysets import candidates_sql
from recognition.search_validation import compare_person_lists, measure_agreement, recall

pytestmark = pytest.mark.django_db


def _domain(slug: str, model_name: str, n_faces: int, seed: int):
    # Created directly: the 512-d domain stands in for ArcFace, whose weights need not be here.
    domain = Domain.objects.create(slug=slug, name=slug, model_name=model_name)
    gallery = clustered(n_faces, 512 if model_name == "ArcFace" else 128, seed=seed)
    gallery_load(domain, gallery)
    indexes.vector_index_ensure(domain_id=domain.id, model_name=model_name, alignment=domain.alignment)
    return domain, gallery


@pytest.fixture
def force_index():
    """Small domains are cheaper to sort than to walk a graph, so the planner would search them
    exactly; forbid the sort so that these tests exercise the HNSW path itself."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_sort = off")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET enable_sort")


@pytest.fixture
def galleries(force_index):
    """A big and a small 128-d domain and a 512-d domain side by side in one table."""
    big = _domain("big", "Dlib", 4000, seed=1)
    small = _domain("small", "Dlib", 60, seed=2)
    wide = _domain("wide", "ArcFace", 1500, seed=3)
    return {"big": big, "small": small, "wide": wide}


def test_ann_search_uses_the_domains_own_partial_index(galleries):
    for domain, gallery in galleries.values():
        plan = _plan(domain, gallery.vectors[0])
        assert indexes.index_name(domain.id, *domain.space) in plan, plan


@pytest.mark.parametrize("name", ["big", "small", "wide"])
def test_ann_recall_at_10_matches_exact_search(galleries, name):
    domain, gallery = galleries[name]
    queries = gallery.queries(40, seed=11)

    agreement = measure_agreement(queries, domain_id=domain.id, model_name=domain.model_name, alignment=domain.alignment, threshold=0.07)

    assert agreement.recall_at_k >= 0.99, agreement
    assert agreement.top1_agreement >= 0.97, agreement


def test_small_domain_next_to_a_big_one_gets_all_its_neighbours(galleries):
    small, gallery = galleries["small"]
    person_ids = set(Person.objects.filter(domain=small).values_list("id", flat=True))

    for query in gallery.queries(20, seed=5):
        ann = FaceEmbedding.objects.nearest_faces(query, domain_id=small.id, model_name="Dlib",
            alignment=small.alignment, k=10)
        exact = FaceEmbedding.objects.nearest_faces(query, domain_id=small.id, model_name="Dlib",
            alignment=small.alignment, k=10, exact=True)
        assert [hit.face_id for hit in ann] == [hit.face_id for hit in exact]
        assert {hit.person_id for hit in ann} <= person_ids


def test_inactive_persons_are_never_returned(galleries):
    domain, gallery = galleries["big"]
    query = gallery.queries(1, seed=3, unknown_share=0)[0]
    before = FaceEmbedding.objects.nearest_persons(
        query, domain_id=domain.id, model_name="Dlib", alignment=domain.alignment, threshold=0.07, top_k=5
    )
    # Deactivate the 5 nearest persons and everyone else's faces among the nearest 150.
    nearest = FaceEmbedding.objects.nearest_faces(
        query, domain_id=domain.id, model_name="Dlib", alignment=domain.alignment, k=150, exact=True
    )
    hidden = {hit.person_id for hit in before} | {hit.person_id for hit in nearest}
    Person.objects.filter(id__in=hidden).update(active=False)

    for exact in (False, True):
        after = FaceEmbedding.objects.nearest_persons(
            query, domain_id=domain.id, model_name="Dlib", alignment=domain.alignment, threshold=0.07, top_k=5, exact=exact
        )
        # The iterative index scan keeps going past the hidden faces: still 5 persons, all active.
        assert len(after) == 5
        assert not {hit.person_id for hit in after} & hidden


def test_person_distance_is_its_best_face_and_faces_matched_counts_within_threshold(galleries):
    domain, gallery = galleries["big"]
    query = gallery.queries(1, seed=9, unknown_share=0)[0]
    faces = FaceEmbedding.objects.nearest_faces(
        query, domain_id=domain.id, model_name="Dlib", alignment=domain.alignment, k=100, exact=True
    )
    threshold = faces[2].distance

    persons = FaceEmbedding.objects.nearest_persons(
        query, domain_id=domain.id, model_name="Dlib", alignment=domain.alignment, threshold=threshold, top_k=3, exact=True
    )

    best = persons[0]
    assert best.person_id == faces[0].person_id
    assert best.distance == pytest.approx(faces[0].distance, abs=1e-6)
    assert best.faces_matched == sum(1 for f in faces if f.person_id == best.person_id and f.distance <= threshold)
    assert [p.distance for p in persons] == sorted(p.distance for p in persons)


def test_wrong_vector_size_is_refused(galleries):
    domain, _ = galleries["wide"]
    with pytest.raises(ValueError, match="512 dimensions"):
        FaceEmbedding.objects.nearest_faces(np.ones(128), domain_id=domain.id, model_name="ArcFace", alignment=domain.alignment, k=10)


def test_recall_and_person_list_comparison():
    assert recall([1, 2, 3], [3, 2, 1]) == 1.0
    assert recall([1, 2, 9], [1, 2, 3, 4]) == 0.5
    assert recall([], []) == 1.0
    assert compare_person_lists([1, 2, 3, 4, 5], [1, 3, 2, 7, 8]) == {
        "top1_match": True, "top5_overlap": 3, "top5_overlap_pct": 60.0,
    }
    assert compare_person_lists([2, 1], [1, 2])["top1_match"] is False


def _plan(domain, vector) -> str:
    from gallery.querysets import _vector_literal

    sql = candidates_sql(domain_id=domain.id, model_name=domain.model_name, alignment=domain.alignment, limit=10, exact=False)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, {"q": _vector_literal(vector)})
        return "\n".join(row[0] for row in cursor.fetchall())


def test_ef_search_grows_with_the_domain_but_is_capped():
    from gallery.querysets import EF_SEARCH, EF_SEARCH_MAX, ef_search_for

    assert ef_search_for(0) == ef_search_for(30_000) == EF_SEARCH
    assert EF_SEARCH < ef_search_for(100_000) < ef_search_for(300_000) < EF_SEARCH_MAX
    assert ef_search_for(10_000_000) == EF_SEARCH_MAX


def test_indexed_vectors_is_the_domains_index_size(galleries):
    domain, gallery = galleries["big"]
    assert indexes.indexed_vectors(domain.id, *domain.space) == len(gallery.vectors)


def test_ann_searches_run_as_prepared_statements_with_the_same_answers(galleries):
    """On a persistent connection an ANN search is prepared, and after five runs PostgreSQL reuses
    one generic plan (no planning over every domain's partial indexes); while queries are logged
    the same statement runs unprepared. Both must answer alike, on the domain's own graph."""
    from django.test.utils import CaptureQueriesContext

    domain, gallery = galleries["big"]
    scope = {"domain_id": domain.id, "model_name": "Dlib", "alignment": domain.alignment, "threshold": 0.07}
    queries = gallery.queries(8, seed=21)
    with CaptureQueriesContext(connection) as logged:
        expected = [FaceEmbedding.objects.nearest_persons(q, top_k=5, centroids=True, **scope) for q in queries]
    assert any("WITH nn AS" in query["sql"] for query in logged.captured_queries)  # unprepared: logged with its SQL

    got = [FaceEmbedding.objects.nearest_persons(q, top_k=5, centroids=True, **scope) for q in queries]

    assert got == expected and all(hits and hits[0].centroid_distance is not None for hits in got)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            [f"%WITH nn AS%domain_id = {domain.id} AND%"],
        )
        (generic, custom), = cursor.fetchall()
    assert custom == 5 and generic == len(queries) - 5
    assert indexes.index_name(domain.id, *domain.space) in _plan(domain, queries[0])

    # Without persistent connections (DB_CONN_MAX_AGE=0, as behind a transaction-mode pooler), nothing is prepared.
    small, small_gallery = galleries["small"]
    persistent, connection.settings_dict["CONN_MAX_AGE"] = connection.settings_dict["CONN_MAX_AGE"], 0
    try:
        for q in small_gallery.queries(8, seed=22):
            assert FaceEmbedding.objects.nearest_persons(
                q, top_k=5, centroids=True, domain_id=small.id, model_name="Dlib", alignment=small.alignment,
                threshold=0.07,
            )
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = persistent
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                       [f"%domain_id = {small.id} AND%"])
        assert cursor.fetchone() == (0,)


def test_the_graphs_output_goes_straight_to_the_limit_whatever_join_the_planner_prefers():
    """The person check is a per-row subquery, so the graph's nearest-first output goes straight to
    the LIMIT. As a join, the planner (in the bench database: 770k rows, 42 partial indexes) read a
    whole domain of a few thousand faces from its graph, hash-joined it with the persons and sorted
    it: 28.6 ms instead of 4.0 ms for 3k 512-d faces. Nested loops are switched off here to make
    the planner prefer such a join wherever there is one to choose."""
    domain, gallery = _domain("thousands", "Dlib", 3000, seed=4)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_nestloop = off")
        try:
            plan = _plan(domain, gallery.vectors[0])
        finally:
            cursor.execute("RESET enable_nestloop")

    assert indexes.index_name(domain.id, *domain.space) in plan, plan
    assert "Sort" not in plan and "Join" not in plan, plan
