"""Nearest-face and nearest-person search over face embeddings.

Strategy (measured in ``bench/``, reasoning in the README): each (domain, vector space) has its own
partial HNSW index (gallery.indexes; a space is a model and the alignment its faces were cropped
with), so an approximate search walks a graph that holds exactly that domain's vectors of that
space, and a search never mixes two alignments' vectors. pgvector filters *after* the index scan, so with one global
index a domain that is 1 % of the table would get about 1 % of its neighbours; with a partial index
the ``WHERE`` is true for every row the index returns and recall does not depend on the domain's
share of the table. The query repeats the index's predicate as literals
(``domain_id = 7 AND model_name = 'Dlib' AND alignment = 'dlib_chip'``) so that the planner can match the partial index, and
casts the column to the model's dimension as the index expression does. Even a small domain is
read from its graph (the planner may instead read it through the btree (domain, model) index and
sort: exact, and about as cheap).

The only filters left after the index scan are "the person is active" and "the face is
searchable" (not below its domain's quality bar); iterative index scans
(pgvector 0.8, ``hnsw.iterative_scan``) keep the scan going when inactive persons' faces are
skipped, so they cannot crowd the others out of the candidate list.

Person-level distances (``nearest_persons(centroids=True)``, ``person_centroids``) are computed in SQL
from the rows themselves, on every call: a centroid is always the mean of the faces a search would
see, and there is no cache to invalidate when a photo is added, moved or removed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import psycopg
from django.db import connection, connections, models, router
from pgvector import Vector

from faces.models_zoo import HNSW_MAX_DIMENSIONS, MODEL_DIMENSIONS
from gallery.indexes import indexed_vectors, space_predicate

# Candidate faces fetched from the index before grouping them by person (at least this many,
# and at least FACES_PER_PERSON per requested person).
CANDIDATE_FACES = 100
FACES_PER_PERSON = 10
# nearest_faces re-ranks this many times k half-precision candidates at full precision.
RERANK = 2
# HNSW candidate list size (hnsw.ef_search): EF_SEARCH up to EF_REFERENCE_SIZE vectors, then
# growing with the square root of the domain's size, up to EF_SEARCH_MAX. The bigger the domain,
# the more faces lie at almost the same distance from a query, and the longer the list must be
# to rank them as exact search does. Measured on clustered vectors (bench/, 200 queries): at 30k
# faces recall@10 vs exact was 0.9995 (128-d) and 0.996 (512-d, m=24) with 200; at 300k 128-d
# faces 0.985 with 200, 0.991 with 400, 0.994 with 600, 0.9975 with 800 (this rule gives 632).
# Latency grows about linearly with it.
EF_SEARCH = 200
EF_REFERENCE_SIZE = 30_000
EF_SEARCH_MAX = 1000


def ef_search_for(n_vectors: int) -> int:
    scaled = EF_SEARCH * math.sqrt(max(n_vectors, 0) / EF_REFERENCE_SIZE)
    return int(min(EF_SEARCH_MAX, max(EF_SEARCH, scaled)))


@dataclass(frozen=True)
class FaceHit:
    face_id: int
    person_id: int
    distance: float


@dataclass(frozen=True)
class UnassignedHit:
    face_id: int
    cluster_id: int | None
    distance: float


@dataclass(frozen=True)
class PersonHit:
    person_id: int
    distance: float  # to the person's nearest candidate face
    faces_matched: int
    centroid_distance: float | None = None  # to the person's centroid (``nearest_persons(centroids=True)``)


@dataclass(frozen=True)
class PersonCentroid:
    person_id: int
    centroid: np.ndarray  # the mean of the person's unit-length face vectors (not itself unit length)
    faces: int


def _vector_literal(vector: np.ndarray) -> str:
    return Vector(np.asarray(vector, dtype=np.float32)).to_text()


def candidates_sql(*, domain_id: int, model_name: str, alignment: str, limit: int, exact: bool) -> str:
    """The nearest ``limit`` faces of active persons of one domain and vector space, nearest first.

    ANN orders by ``embedding::halfvec(dim) <=> q``, the expression of the domain's partial HNSW
    index (gallery.indexes: half-precision copies make the graph half as big and its walk ~30 %
    faster); the distance reported, and the final order, come from the full-precision vector.
    Exact search orders by the bare column, which no HNSW index serves, so it is a true scan.
    ``domain_id`` is an int, ``model_name`` and ``alignment`` are checked against the zoo: safe as literals (and
    they must be literals for the planner to match the partial index). The person's domain is
    checked too, although the database already ties a face's domain to its person's: a search
    must never name another domain's person, whatever the rows say.

    ANN checks the person row by row, as a scalar subquery the planner cannot turn into a join: the
    graph's nearest-first output goes straight to the ``LIMIT``. Written as a join, the planner
    priced reading a whole domain from its graph as cheap and chose, for domains of a few thousand
    faces, to read all of them from the graph, hash-join them with their persons and sort (3k 512-d
    faces: 28.6 ms instead of 4.0 ms; 30k 128-d: 9.8 ms with the join as a nested loop, 5.5 ms
    with the subquery; ``EXPLAIN ANALYZE`` in the bench database). Exact search keeps the join
    (``scope_sql``): it reads the whole domain, and a lookup per row is 3-4x slower there.
    """
    if model_name not in MODEL_DIMENSIONS:
        raise ValueError(f"unknown model {model_name!r}")
    dim = MODEL_DIMENSIONS[model_name]
    distance = "f.embedding <=> %(q)s::vector"
    if exact:
        source, order = scope_sql(domain_id=domain_id, model_name=model_name, alignment=alignment), distance
    else:
        order = f"f.embedding::halfvec({dim}) <=> %(q)s::halfvec({dim})"
        source = f"""
        FROM gallery_faceembedding f
        WHERE {space_predicate(domain_id=domain_id, model_name=model_name, alignment=alignment, alias="f")}
          AND f.searchable
          AND (SELECT p.active FROM gallery_person p WHERE p.id = f.person_id AND p.domain_id = {int(domain_id)})"""
    return f"""
        SELECT f.id, f.person_id, ({distance}) AS distance
        {source}
        ORDER BY {order}
        LIMIT {int(limit)}"""


class _PreparedCursor(psycopg.Cursor):
    """Server-side binding, and every statement prepared on its connection (Django's own cursors
    bind client-side and never prepare)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


# psycopg prepares nothing while a connection's prepare_threshold is None (Django's default); this
# one lets an explicit prepare through and is never reached by a count of executions.
_NEVER_BY_COUNT = 2**31 - 1


class FaceEmbeddingQuerySet(models.QuerySet):
    def _run(self, sql: str, params: dict, *, scope: tuple[int, str, str], exact: bool, limit: int) -> list[tuple]:
        """Run one search statement; ANN searches with ``hnsw.ef_search`` set for the domain's size.

        On a persistent connection (``CONN_MAX_AGE`` not 0) an ANN search is a prepared statement:
        the table holds two partial indexes per domain, and planning a search weighs every one of
        them (~1.7 ms of a 300-face domain's ~3.5 ms with 42 indexes here, and more with every
        domain added). PostgreSQL plans a prepared statement for the first five runs, then
        reuses a generic plan (the query vector is the only parameter, and no plan depends on its
        value); ANALYZE or a new index invalidates it. Measured, interleaved, at the machine's
        current speed: p50 5.1 -> 3.1 ms (300 faces), 12.0 -> 9.8 ms (30k, 128-d), 16.8 -> 14.8
        ms (30k, 512-d). Without persistent connections (a transaction-mode pooler, as
        deploy/README.md advises: ``DB_CONN_MAX_AGE=0``) statements are not prepared, nor while
        Django logs queries (DEBUG, or a test capturing them): a prepared statement's log entry
        would lack its SQL."""
        connection = connections[router.db_for_read(self.model)]
        with connection.cursor() as cursor:
            if not exact:
                # set_config(..., is_local=false): SET LOCAL would be a no-op outside a
                # transaction. ef_search must be at least the LIMIT, or the scan ends early.
                ef_search = max(ef_search_for(indexed_vectors(*scope, using=connection)), limit)
                cursor.execute(
                    "SELECT set_config('hnsw.ef_search', %s, false), "
                    "set_config('hnsw.iterative_scan', 'relaxed_order', false)",
                    [str(ef_search)],
                )
            if exact or connection.settings_dict.get("CONN_MAX_AGE") == 0 or connection.queries_logged:
                cursor.execute(sql, params)
                return cursor.fetchall()
        raw = connection.connection
        if raw.prepare_threshold is None:
            raw.prepare_threshold = _NEVER_BY_COUNT
        with connection.make_cursor(_PreparedCursor(raw)) as cursor:  # Django's wrapper: its errors
            cursor.execute(sql, params)
            return cursor.fetchall()

    def nearest_faces(
        self, vector: np.ndarray, *, domain_id: int, model_name: str, alignment: str, k: int, exact: bool = False
    ) -> list[FaceHit]:
        """The ``k`` faces of active persons nearest to ``vector``, nearest first.

        The index ranks in half precision, which can swap two faces whose distances differ by
        less than ~1e-3; so ANN takes RERANK times ``k`` candidates and keeps the ``k`` nearest by
        the full-precision distance (``nearest_persons`` does the same with its 100 candidates)."""
        exact = _checked(vector, model_name) or exact
        limit = k if exact else k * RERANK
        candidates = candidates_sql(
            domain_id=domain_id, model_name=model_name, alignment=alignment, limit=limit, exact=exact
        )
        sql = f"SELECT * FROM ({candidates}) nn ORDER BY distance, id LIMIT {int(k)}"
        scope = (domain_id, model_name, alignment)
        rows = self._run(sql, {"q": _vector_literal(vector)}, scope=scope, exact=exact, limit=limit)
        return [FaceHit(face_id=row[0], person_id=row[1], distance=float(row[2])) for row in rows]

    def nearest_persons(
        self,
        vector: np.ndarray,
        *,
        domain_id: int,
        model_name: str,
        alignment: str,
        threshold: float,
        top_k: int,
        exact: bool = False,
        centroids: bool = False,
    ) -> list[PersonHit]:
        """The ``top_k`` active persons nearest to ``vector``: a person's distance is its best
        face's cosine distance; ``faces_matched`` counts its faces within ``threshold``
        (among the candidate faces). Nearest first.

        ``centroids``: each person's ``centroid_distance`` too, the cosine distance from ``vector``
        to the mean of the person's unit-length face vectors of the space (normalized first so
        that every photo weighs the same; searchable faces only, as the search sees them). It is
        computed in the same statement, from the same snapshot: one round trip and one plan
        instead of two (measured at 30k 128-d faces: ~9 ms p50 instead of ~12 on a slow phase
        of this 2-core machine), and a person found by the search always has a centroid. It
        reads every face of the ``top_k`` persons through the btree index on person: the cost
        grows with their photos (measured on 20 persons of 1,000 128-d faces: ~11 ms for 1
        person, ~50 ms for 10; with that many photos per person the nearest 100 faces rarely
        hold more than 1 or 2 persons)."""
        exact = _checked(vector, model_name) or exact
        limit = max(CANDIDATE_FACES, top_k * FACES_PER_PERSON)
        candidates = candidates_sql(
            domain_id=domain_id, model_name=model_name, alignment=alignment, limit=limit, exact=exact
        )
        centroid, joined = "NULL::float8", ""
        if centroids:
            predicate = space_predicate(domain_id=domain_id, model_name=model_name, alignment=alignment, alias="f")
            centroid = "c.distance"
            joined = f"""
            CROSS JOIN LATERAL (
                SELECT avg(l2_normalize(f.embedding)) <=> %(q)s::vector AS distance
                FROM gallery_faceembedding f
                WHERE {predicate} AND f.searchable AND f.person_id = s.person_id
            ) c"""
        sql = f"""
            WITH nn AS MATERIALIZED ({candidates}),
            s AS MATERIALIZED (
                SELECT person_id, min(distance) AS distance,
                       count(*) FILTER (WHERE distance <= {float(threshold)!r}::float8) AS matched
                FROM nn GROUP BY person_id ORDER BY min(distance), person_id LIMIT {int(top_k)}
            )
            SELECT s.person_id, s.distance, s.matched, {centroid} FROM s{joined}
            ORDER BY s.distance, s.person_id"""
        params = {"q": _vector_literal(vector)}
        rows = self._run(sql, params, scope=(domain_id, model_name, alignment), exact=exact, limit=limit)
        return [
            PersonHit(
                person_id=row[0], distance=float(row[1]), faces_matched=row[2],
                centroid_distance=None if row[3] is None else float(row[3]),
            )
            for row in rows
        ]

    def nearest_unassigned(
        self, vector: np.ndarray, *, domain_id: int, model_name: str, alignment: str, k: int, max_distance: float
    ) -> list[UnassignedHit]:
        """Up to ``k`` unassigned searchable faces nearest to ``vector`` within ``max_distance``,
        outside dismissed clusters, nearest first: a walk of the domain's graph of unassigned
        faces (gallery.indexes), never of the persons' graph. Clustering's neighbour search.
        The cluster is checked row by row for the walk, as the person is in ``candidates_sql``:
        as a join, the planner read every unassigned face of the domain and sorted them (7 ms at
        5,000 faces, growing with the archive), not the graph."""
        exact = _checked(vector, model_name)
        dim = MODEL_DIMENSIONS[model_name]
        distance = "f.embedding <=> %(q)s::vector"
        predicate = space_predicate(
            domain_id=domain_id, model_name=model_name, alignment=alignment, alias="f", assigned=False
        )
        if exact:
            order = distance
            source = f"""FROM gallery_faceembedding f LEFT JOIN gallery_facecluster c ON c.id = f.cluster_id
                WHERE {predicate} AND NOT coalesce(c.dismissed, false)"""
        else:
            order = f"f.embedding::halfvec({dim}) <=> %(q)s::halfvec({dim})"
            source = f"""FROM gallery_faceembedding f
                WHERE {predicate}
                  AND NOT coalesce((SELECT c.dismissed FROM gallery_facecluster c WHERE c.id = f.cluster_id), false)"""
        sql = f"""
            SELECT * FROM (
                SELECT f.id, f.cluster_id, ({distance}) AS distance
                {source}
                ORDER BY {order} LIMIT {int(k) * RERANK}
            ) nn WHERE distance <= {float(max_distance)!r}::float8 ORDER BY distance, id LIMIT {int(k)}"""
        params = {"q": _vector_literal(vector)}
        scope = (domain_id, model_name, alignment)
        rows = self._run(sql, params, scope=scope, exact=exact, limit=int(k) * RERANK)
        return [UnassignedHit(face_id=row[0], cluster_id=row[1], distance=float(row[2])) for row in rows]

    def cluster_centroid_distances(
        self, vector: np.ndarray, *, cluster_ids: list[int], domain_id: int, model_name: str, alignment: str
    ) -> dict[int, float]:
        """The cosine distance from ``vector`` to each cluster's centroid, computed as a person's
        (``nearest_persons(centroids=True)``) from the cluster's unassigned faces of the space."""
        _checked(vector, model_name)
        if not cluster_ids:
            return {}
        predicate = space_predicate(
            domain_id=domain_id, model_name=model_name, alignment=alignment, alias="f", assigned=False
        )
        sql = f"""
            SELECT f.cluster_id, avg(l2_normalize(f.embedding)) <=> %(q)s::vector
            FROM gallery_faceembedding f
            WHERE {predicate} AND f.cluster_id = ANY(%(clusters)s)
            GROUP BY f.cluster_id"""
        with connection.cursor() as cursor:
            cursor.execute(sql, {"q": _vector_literal(vector), "clusters": [int(pk) for pk in cluster_ids]})
            return {cluster_id: float(distance) for cluster_id, distance in cursor.fetchall()}

    def cluster_sums(
        self, *, domain_id: int, model_name: str, alignment: str, cluster_ids: list[int] | None = None
    ) -> dict[int, tuple[np.ndarray, int]]:
        """Per cluster, the sum of its unassigned faces' unit-length vectors of the space and their
        number (the centroid of ``cluster_centroid_distances`` is sum / number): every cluster of
        the domain, or only ``cluster_ids``. One GROUP BY, so that clustering can keep the
        centroids of a run in memory."""
        predicate = space_predicate(
            domain_id=domain_id, model_name=model_name, alignment=alignment, alias="f", assigned=False
        )
        params: dict = {}
        if cluster_ids is None:
            which = "f.cluster_id IS NOT NULL"
        else:
            if not cluster_ids:
                return {}
            which, params["clusters"] = "f.cluster_id = ANY(%(clusters)s)", [int(pk) for pk in cluster_ids]
        sql = f"""
            SELECT f.cluster_id, sum(l2_normalize(f.embedding)), count(*)
            FROM gallery_faceembedding f
            WHERE {predicate} AND {which}
            GROUP BY f.cluster_id"""
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {pk: (_as_array(total).astype(np.float64), int(n)) for pk, total, n in cursor.fetchall()}

    def cluster_sizes(self, *, cluster_ids: list[int], domain_id: int, model_name: str, alignment: str) -> dict[int, int]:
        """How many unassigned faces of the space each cluster holds (the ``n`` of ``cluster_sums``)."""
        if not cluster_ids:
            return {}
        predicate = space_predicate(
            domain_id=domain_id, model_name=model_name, alignment=alignment, alias="f", assigned=False
        )
        sql = f"""
            SELECT f.cluster_id, count(*) FROM gallery_faceembedding f
            WHERE {predicate} AND f.cluster_id = ANY(%(clusters)s) GROUP BY f.cluster_id"""
        with connection.cursor() as cursor:
            cursor.execute(sql, {"clusters": [int(pk) for pk in cluster_ids]})
            return dict(cursor.fetchall())

    def person_centroids(self, *, domain_id: int, model_name: str, alignment: str) -> list[PersonCentroid]:
        """Every active person's centroid in one domain and model (as ``nearest_persons(centroids=True)``
        computes it) and its number of faces, by person id."""
        sql = f"""
            SELECT f.person_id, avg(l2_normalize(f.embedding)), count(*)
            {scope_sql(domain_id=domain_id, model_name=model_name, alignment=alignment)}
            GROUP BY f.person_id ORDER BY f.person_id"""
        connection = connections[router.db_for_read(self.model)]
        with connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
        return [PersonCentroid(person_id=pk, centroid=_as_array(mean), faces=n) for pk, mean, n in rows]


def _as_array(value) -> np.ndarray:
    """A vector column's value as float32 (the pgvector adapter answers numpy, raw SQL may answer text)."""
    if isinstance(value, str):
        return np.asarray(Vector.from_text(value).to_numpy(), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


def scope_sql(*, domain_id: int, model_name: str, alignment: str) -> str:
    """The faces every search reads, face-level (``candidates_sql``) and person-level alike: one
    domain's searchable faces of one vector space, of active persons of that domain, with ``f`` the
    face and ``p`` the person. The space is repeated as literals (the partial index's predicate)."""
    return f"""
        FROM gallery_faceembedding f JOIN gallery_person p ON p.id = f.person_id
        WHERE {space_predicate(domain_id=domain_id, model_name=model_name, alignment=alignment, alias="f")}
          AND p.active AND f.searchable
          AND p.domain_id = {int(domain_id)}"""


def _checked(vector: np.ndarray, model_name: str) -> bool:
    """Validate the vector's size; True when the model can only be searched exactly."""
    if model_name not in MODEL_DIMENSIONS:
        raise ValueError(f"unknown model {model_name!r}")
    dim = MODEL_DIMENSIONS[model_name]
    if len(vector) != dim:
        raise ValueError(f"{model_name} vectors have {dim} dimensions, not {len(vector)}")
    return dim > HNSW_MAX_DIMENSIONS
