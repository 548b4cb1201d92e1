"""Synthetic galleries: clustered face embeddings, loaded into PostgreSQL with COPY.

Real face embeddings are not uniform on the sphere: every person is a tight cloud around their own
centroid, and centroids share a common direction (all faces look more like each other than like
random vectors). So each person gets a centroid ``normalize(spread * mean + d)`` (``mean`` shared by
the domain) and each face is ``normalize(centroid + noise * e)``, with ``d`` and ``e`` Gaussian.
The knobs per model are set so that same-person and different-person cosine distances fall where
the real model's do (Dlib, measured on the test photos: same person median 0.039, different 0.164,
threshold 0.07; ArcFace: ~0.4 vs ~0.9 around 0.68). Faces per person vary (geometric, mean ~10).

``d`` and ``e`` are not isotropic: face representations have a low intrinsic dimensionality
(about 10-20 for 128- to 512-d embeddings, Gong, Boddeti & Jain, "On the Intrinsic Dimensionality
of Image Representations", CVPR 2019), i.e. their variance is concentrated in few directions. The
variance along the i-th of a random orthogonal basis falls as i**-DECAY (DECAY = 1: a
participation ratio of ~18 dimensions for 128-d, ~28 for 512-d), with the same total variance as
isotropic noise, so the distance profile above is unchanged. ``decay=0`` gives the isotropic,
full-rank worst case: bench/run.py's search section reports it as a stress row, with no target
(``galleries.STRESS_FULL`` / ``STRESS_QUICK``).

Rows are real Person / FacePhoto / FaceEmbedding rows (foreign keys intact), written with COPY
(binary for the vectors) and indexed after loading with one parallel HNSW build.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

# (spread of the shared direction, per-face noise) per vector size, see the module docstring.
PROFILES: dict[int, tuple[float, float]] = {128: (2.8, 0.22), 512: (0.45, 0.75)}
MEAN_FACES_PER_PERSON = 10
DECAY = 1.0


@dataclass
class Shape:
    """Anisotropic Gaussian draws: variance i**-decay along the rows of a random orthogonal basis."""

    basis: np.ndarray
    scales: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, dim: int, decay: float) -> Shape:
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        variances = np.arange(1, dim + 1, dtype=np.float64) ** -decay
        return cls(basis=basis, scales=np.sqrt(variances / variances.mean()))

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws with the covariance of N(0, I/dim) rotated and stretched: E|x|^2 = 1."""
        dim = len(self.scales)
        return (rng.standard_normal((n, dim)) * self.scales) @ self.basis.T / np.sqrt(dim)


@dataclass
class Gallery:
    vectors: np.ndarray  # n x dim, float32, unit length
    person_of: np.ndarray  # n, index into centroids
    centroids: np.ndarray  # persons x dim
    mean: np.ndarray  # the domain's shared direction
    noise: float
    spread: float
    between: Shape  # how persons differ
    within: Shape  # how photos of one person differ

    def queries(self, n: int, *, seed: int, unknown_share: float = 0.2) -> np.ndarray:
        """Held-out photos: fresh noisy samples of known persons, plus faces of unknown persons."""
        rng = np.random.default_rng(seed)
        n_unknown = int(round(n * unknown_share))
        known = self.centroids[rng.integers(0, len(self.centroids), n - n_unknown)]
        unknown = _centroids(rng, n_unknown, self.mean, self.spread, self.between)
        centres = np.vstack([known, unknown])
        return _normalized(centres + self.noise * self.within.draw(rng, len(centres)))


def _normalized(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def _centroids(rng: np.random.Generator, n: int, mean: np.ndarray, spread: float, shape: Shape) -> np.ndarray:
    # Each person's own spread varies a little, so some persons look alike and some do not.
    weights = spread * rng.uniform(0.7, 1.3, size=(n, 1))
    return _normalized(weights * mean + shape.draw(rng, n))


def clustered(n_faces: int, dim: int, *, seed: int, decay: float = DECAY) -> Gallery:
    """``n_faces`` unit vectors in clusters of a geometric number of faces per person."""
    spread, noise = PROFILES.get(dim, PROFILES[128])
    rng = np.random.default_rng(seed)
    mean = _normalized(rng.standard_normal((1, dim)))[0]
    between, within = Shape.random(rng, dim, decay), Shape.random(rng, dim, decay)
    sizes = np.minimum(rng.geometric(1 / MEAN_FACES_PER_PERSON, size=n_faces // 2 + 2), 60)
    ends = np.cumsum(sizes)
    n_persons = int(np.searchsorted(ends, n_faces) + 1)
    person_of = np.repeat(np.arange(n_persons), sizes[:n_persons])[:n_faces]
    centroids = _centroids(rng, n_persons, mean, spread, between)
    vectors = np.empty((n_faces, dim), dtype=np.float32)
    for begin in range(0, n_faces, 50_000):  # in blocks: 300k x 512 float64 draws would be 1.2 GB
        block = slice(begin, min(begin + 50_000, n_faces))
        vectors[block] = _normalized(centroids[person_of[block]] + noise * within.draw(rng, block.stop - block.start))
    return Gallery(
        vectors=vectors, person_of=person_of, centroids=centroids, mean=mean, noise=noise, spread=spread,
        between=between, within=within,
    )


# --- loading ----------------------------------------------------------------------------------


def _reserve_ids(cursor, table: str, n: int) -> int:
    """Reserve ``n`` consecutive ids of ``table``'s identity sequence; returns the first."""
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    cursor.execute(
        f"SELECT setval('{sequence}', greatest((SELECT coalesce(max(id), 0) FROM {table}), "
        f"(SELECT last_value FROM {sequence})) + %s)",
        [n],
    )
    return cursor.fetchone()[0] - n + 1


def gallery_load(domain, gallery: Gallery, *, name_prefix: str = "Person") -> None:
    """Write ``gallery`` into ``domain`` as persons, photos and faces, in one transaction. The
    domain's HNSW index is dropped first; rebuild it after loading with
    ``indexes.vector_index_ensure`` (one bulk build is much faster than 300k graph inserts)."""
    from django.db import connection, transaction

    from gallery import indexes

    indexes.vector_index_drop(domain_id=domain.id, model_name=domain.model_name, alignment=domain.alignment)
    n_persons, n_faces = len(gallery.centroids), len(gallery.vectors)
    now = datetime.now(UTC)
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own cursor, for COPY
        first_person = _reserve_ids(cursor, "gallery_person", n_persons)
        first_photo = _reserve_ids(cursor, "gallery_facephoto", n_faces)
        first_face = _reserve_ids(cursor, "gallery_faceembedding", n_faces)
        with cursor.copy("COPY gallery_person (id, domain_id, name, external_id, active, created, updated) FROM STDIN") as copy:
            for i in range(n_persons):
                copy.write_row((first_person + i, domain.id, f"{name_prefix} {i}", None, True, now, now))
        photo_columns = "id, domain_id, person_id, image, content_hash, source_name, status, reason, created"
        with cursor.copy(f"COPY gallery_facephoto ({photo_columns}) FROM STDIN") as copy:
            for i, person in enumerate(gallery.person_of.tolist()):
                digest = f"{domain.id:016x}{first_photo + i:048x}"
                copy.write_row(
                    (first_photo + i, domain.id, first_person + person, f"bench/{digest}.jpg", digest, "", "embedded", "", now)
                )
        face_columns = (
            "id, photo_id, person_id, domain_id, model_name, alignment, embedding, box_x, box_y, box_w, box_h, "
            "detection_confidence, created"
        )
        with cursor.copy(f"COPY gallery_faceembedding ({face_columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.write(_PGCOPY_HEADER)
            for begin in range(0, n_faces, 50_000):
                rows = slice(begin, min(begin + 50_000, n_faces))
                copy.write(
                    _face_rows(
                        ids=first_face + np.arange(rows.start, rows.stop),
                        photo_ids=first_photo + np.arange(rows.start, rows.stop),
                        person_ids=first_person + gallery.person_of[rows],
                        domain_id=domain.id,
                        model_name=domain.model_name,
                        alignment=domain.alignment,
                        vectors=gallery.vectors[rows],
                        created=now,
                    )
                )
            copy.write(b"\xff\xff")  # end of the binary COPY stream


# PostgreSQL's binary COPY format: signature, flags, header extension length.
_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" * 2
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _face_rows(*, ids, photo_ids, person_ids, domain_id, model_name, alignment, vectors, created) -> bytes:
    """Binary COPY tuples of gallery_faceembedding, built as one numpy record array (pgvector's
    binary ``vector`` is int16 dim, int16 unused, float4[dim], all big-endian)."""
    n, dim = vectors.shape
    model, aligned = model_name.encode(), alignment.encode()
    fields = [("count", ">i2")]
    for name, kind in (("id", ">i8"), ("photo", ">i8"), ("person", ">i8"), ("domain", ">i8"), ("model", f"S{len(model)}"),
                       ("alignment", f"S{len(aligned)}")):
        fields += [(f"{name}_len", ">i4"), (name, kind)]
    fields += [("vector_len", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("vector", ">f4", (dim,))]
    for name, kind in (("x", ">i4"), ("y", ">i4"), ("w", ">i4"), ("h", ">i4"), ("confidence", ">f8"), ("created", ">i8")):
        fields += [(f"{name}_len", ">i4"), (name, kind)]
    rows = np.zeros(n, dtype=np.dtype(fields))
    rows["count"] = 13
    for name, size in (("id", 8), ("photo", 8), ("person", 8), ("domain", 8), ("model", len(model)),
                       ("alignment", len(aligned)), ("vector", 4 + 4 * dim),
                       ("x", 4), ("y", 4), ("w", 4), ("h", 4), ("confidence", 8), ("created", 8)):
        rows[f"{name}_len"] = size
    rows["id"], rows["photo"], rows["person"], rows["domain"], rows["model"] = ids, photo_ids, person_ids, domain_id, model
    rows["alignment"] = aligned
    rows["dim"], rows["vector"] = dim, vectors
    rows["w"], rows["h"], rows["confidence"] = 100, 100, 1.0
    rows["created"] = int((created - _PG_EPOCH).total_seconds() * 1_000_000)
    return rows.tobytes()
