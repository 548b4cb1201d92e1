"""Partial HNSW indexes, one per (domain, vector space): a space is a model and the alignment its
faces were cropped with (gallery.models.FaceEmbedding), since vectors of one model computed from
two different crops must never be searched together.

A search for one domain must be both fast and exact-enough. pgvector applies ``WHERE domain_id = …``
after the HNSW scan, so with one global index a domain that is 10 % of the table would get a tenth
of its neighbours. A partial index per (domain, model, alignment) contains exactly the rows the query wants,
and casting the column to the model's dimension lets vectors of several models share one table.
These indexes are created with the domain (or when it switches to a new space) and dropped with it.

The graph holds half-precision copies (``embedding::halfvec(dim)``): half the pages to walk, so
searches are ~30 % faster (measured at 30k 512-d vectors: p50 5.6 -> 4.0 ms) with the same
recall; the table keeps full precision, and distances are computed from it.

Each (domain, space) has two graphs: the persons' (``person_id IS NOT NULL``), the only one
recognize and search walk, and the unassigned faces' (``person_id IS NULL``, searchable ones only),
which clustering walks (gallery.services.clusters). An archive of unassigned faces ten times the
size of the gallery therefore neither slows nor dilutes the persons' search: their graph holds
exactly the faces a search may return. A face given to a person moves from one graph to the other
with its row (an UPDATE of ``person_id``).
"""

from __future__ import annotations

import re
import time

from django.db import connection, transaction

from faces.models_zoo import ALIGNMENTS, HNSW_MAX_DIMENSIONS, MODEL_DIMENSIONS

# HNSW build parameters (pgvector's defaults are m=16, ef_construction=64). Twice the default
# construction effort removed most searches that never reached their person's cluster. Wider
# vectors (512-d: a higher intrinsic dimension) need a denser graph: at 30k 512-d faces,
# m=16/128 gave recall@10 0.990-0.994 (two builds) and 2 % of faces another answer than exact
# search; m=24/200 gave 0.997 and 1 %, at the same search latency (bench/).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128
WIDE_DIMENSIONS = 256
WIDE_HNSW_M = 24
WIDE_HNSW_EF_CONSTRUCTION = 200


def hnsw_params(dim: int) -> tuple[int, int]:
    """(m, ef_construction) for vectors of ``dim`` dimensions."""
    return (WIDE_HNSW_M, WIDE_HNSW_EF_CONSTRUCTION) if dim > WIDE_DIMENSIONS else (HNSW_M, HNSW_EF_CONSTRUCTION)


def index_name(domain_id: int, model_name: str, alignment: str, *, assigned: bool = True) -> str:
    """The persons' graph (``assigned``) or the unassigned faces' graph of a (domain, space)."""
    model, aligned = (re.sub(r"[^a-z0-9]", "", name.lower()) for name in (model_name, alignment))
    return f"face_hnsw_{'' if assigned else 'u_'}d{int(domain_id)}_{model}_{aligned}"


def space_predicate(
    *, domain_id: int, model_name: str, alignment: str, alias: str = "", assigned: bool = True
) -> str:
    """The rows of one domain's vector space, as literals: the partial index's predicate, repeated
    by searches (columns of table ``alias``) so that the planner matches the index. ``assigned``:
    faces of persons (what recognize searches), else unassigned searchable faces (what clustering
    searches). Both names are checked against the zoo."""
    if model_name not in MODEL_DIMENSIONS or alignment not in ALIGNMENTS:
        raise ValueError(f"unknown vector space {model_name!r}/{alignment!r}")
    t = f"{alias}." if alias else ""
    owner = f"{t}person_id IS NOT NULL" if assigned else f"{t}person_id IS NULL AND {t}searchable"
    return (
        f"{t}domain_id = {int(domain_id)} AND {t}model_name = '{model_name}' AND {t}alignment = '{alignment}' "
        f"AND {owner}"
    )


# Memory for building a graph: a build that fits runs several times faster than one that spills.
BUILD_MEMORY = "256MB"


def vector_index_ensure(*, domain_id: int, model_name: str, alignment: str, build_memory: str = BUILD_MEMORY) -> bool:
    """Create the domain's indexes for the space (``model_name``, ``alignment``) if they are
    missing: the persons' and the unassigned faces'. False where the model's vectors are too large
    for HNSW (those are searched exactly).

    Bulk loads are fastest as drop (``vector_index_drop``), load, then ensure: one graph build
    with ``build_memory`` and parallel workers instead of one graph insert per row."""
    dim = MODEL_DIMENSIONS[model_name]
    if dim > HNSW_MAX_DIMENSIONS:
        return False
    if not re.fullmatch(r"\d+[kMG]B", build_memory):
        raise ValueError(f"build_memory must look like 512MB, not {build_memory!r}")
    m, ef_construction = hnsw_params(dim)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{build_memory}'")
        for assigned in (True, False):
            name = index_name(domain_id, model_name, alignment, assigned=assigned)
            predicate = space_predicate(domain_id=domain_id, model_name=model_name, alignment=alignment, assigned=assigned)
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON gallery_faceembedding "
                f"USING hnsw ((embedding::halfvec({dim})) halfvec_cosine_ops) "
                f"WITH (m = {m}, ef_construction = {ef_construction}) WHERE {predicate}"
            )
    return True


def vector_index_current(*, domain_id: int, model_name: str, alignment: str) -> bool:
    """Whether the domain's index exists and is built as searches expect (halfvec, parameters)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index_name(domain_id, model_name, alignment)]
        )
        row = cursor.fetchone()
    m, ef_construction = hnsw_params(MODEL_DIMENSIONS[model_name])
    return (
        bool(row) and "halfvec_cosine_ops" in row[0] and "person_id IS NOT NULL" in row[0]
        and f"m='{m}', ef_construction='{ef_construction}'" in row[0]
    )


def vector_index_drop(*, domain_id: int, model_name: str, alignment: str) -> None:
    with connection.cursor() as cursor:
        for assigned in (True, False):
            cursor.execute(f"DROP INDEX IF EXISTS {index_name(domain_id, model_name, alignment, assigned=assigned)}")


def vector_indexes_drop(*, domain_id: int) -> None:
    for model_name in MODEL_DIMENSIONS:
        for alignment in ALIGNMENTS:
            vector_index_drop(domain_id=domain_id, model_name=model_name, alignment=alignment)


def vector_indexes_list() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'gallery_faceembedding' "
            "AND indexname LIKE 'face_hnsw_%%' ORDER BY indexname"
        )
        return [row[0] for row in cursor.fetchall()]


# How long a process trusts its copy of an index's size (it only steers hnsw.ef_search).
_SIZE_TTL_S = 60.0
_sizes: dict[tuple[str, str], tuple[float, int]] = {}


def indexed_vectors(domain_id: int, model_name: str, alignment: str, *, using=None) -> int:
    """About how many vectors the domain's index holds (the planner's statistics, kept current
    by CREATE INDEX, VACUUM and ANALYZE; 0 when unknown), cached for a minute per process."""
    conn = using or connection
    name = index_name(domain_id, model_name, alignment)
    key = (conn.alias, name)
    cached = _sizes.get(key)
    if cached is not None and time.monotonic() - cached[0] < _SIZE_TTL_S:
        return cached[1]
    with conn.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s AND relkind = 'i'", [name])
        row = cursor.fetchone()
    size = max(int(row[0]), 0) if row else 0
    _sizes[key] = (time.monotonic(), size)
    return size
