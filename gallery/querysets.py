"""Nearest-person search over face embeddings.

Each (domain, model) pair has its own partial HNSW index (gallery.indexes), so an approximate
search scans only that domain's vectors: pgvector filters *after* the index scan, and a single
global index would silently lose neighbours of small domains. The query repeats the index's
predicate as literals (``domain_id = 7 AND model_name = 'Dlib'``) so that the planner can match
the partial index, and casts the column to the model's dimension as the index expression does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import connections, models, router
from pgvector import Vector

from recognition.models_zoo import HNSW_MAX_DIMENSIONS, MODEL_DIMENSIONS

# Candidate faces fetched from the index before grouping them by person.
CANDIDATE_FACES = 100
EF_SEARCH = 200


@dataclass(frozen=True)
class PersonHit:
    person_id: int
    distance: float
    faces_matched: int


def _vector_literal(vector: np.ndarray) -> str:
    return Vector(np.asarray(vector, dtype=np.float32)).to_text()


class FaceEmbeddingQuerySet(models.QuerySet):
    def nearest_persons(
        self,
        vector: np.ndarray,
        *,
        domain_id: int,
        model_name: str,
        threshold: float,
        top_k: int,
        exact: bool = False,
    ) -> list[PersonHit]:
        """The ``top_k`` active persons nearest to ``vector``: a person's distance is its best
        face's cosine distance; ``faces_matched`` counts its faces within ``threshold``."""
        dim = MODEL_DIMENSIONS[model_name]
        if len(vector) != dim:
            raise ValueError(f"{model_name} vectors have {dim} dimensions, not {len(vector)}")
        exact = exact or dim > HNSW_MAX_DIMENSIONS
        # domain_id is an int and model_name is checked against the zoo above: safe as literals.
        scope = f"f.domain_id = {int(domain_id)} AND f.model_name = '{model_name}'"
        if exact:
            candidates = f"""
                SELECT f.person_id, (f.embedding <=> %(q)s::vector) AS distance
                FROM gallery_faceembedding f WHERE {scope}"""
        else:
            candidates = f"""
                SELECT f.person_id, (f.embedding::vector({dim}) <=> %(q)s::vector({dim})) AS distance
                FROM gallery_faceembedding f WHERE {scope}
                ORDER BY f.embedding::vector({dim}) <=> %(q)s::vector({dim})
                LIMIT {CANDIDATE_FACES}"""
        sql = f"""
            WITH nn AS MATERIALIZED ({candidates})
            SELECT nn.person_id, min(nn.distance), count(*) FILTER (WHERE nn.distance <= %(threshold)s)
            FROM nn JOIN gallery_person p ON p.id = nn.person_id AND p.active
            GROUP BY nn.person_id ORDER BY min(nn.distance), nn.person_id LIMIT %(top_k)s"""
        params = {"q": _vector_literal(vector), "threshold": threshold, "top_k": top_k}
        connection = connections[router.db_for_read(self.model)]
        with connection.cursor() as cursor:
            if not exact:
                # SET LOCAL only lasts for the current transaction; outside one it is a no-op,
                # so use set_config(..., is_local=false) scoped to this connection instead.
                cursor.execute(
                    "SELECT set_config('hnsw.ef_search', %s, false), "
                    "set_config('hnsw.iterative_scan', 'relaxed_order', false)",
                    [str(EF_SEARCH)],
                )
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [PersonHit(person_id=row[0], distance=float(row[1]), faces_matched=row[2]) for row in rows]
