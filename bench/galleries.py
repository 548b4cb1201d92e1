"""The benchmark galleries: ten domains of mixed sizes and two models (128-d Dlib, 512-d ArcFace)
side by side in one table, so that every search runs next to other domains' and models' vectors."""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

from bench import synthetic
from bench.synthetic import Gallery, clustered, gallery_load
from faces.models_zoo import MODEL_DIMENSIONS


@dataclass(frozen=True)
class DomainSpec:
    slug: str
    model_name: str
    n_faces: int
    # synthetic.DECAY: real faces' low intrinsic dimensionality; 0: the isotropic, full-rank worst case
    decay: float = synthetic.DECAY

    @property
    def stress(self) -> bool:
        """A stress domain: reported, with no target (its vectors are harder than faces are)."""
        return self.decay != synthetic.DECAY

    @property
    def dim(self) -> int:
        return MODEL_DIMENSIONS[self.model_name]

    @property
    def seed(self) -> int:
        return zlib.crc32(self.slug.encode())

    @property
    def label(self) -> str:
        """The domain's name: says which generator settings made its vectors."""
        settings = repr((synthetic.PROFILES, self.decay, synthetic.MEAN_FACES_PER_PERSON, self.n_faces))
        return f"synthetic {self.slug} ({zlib.crc32(settings.encode()):08x})"

    def gallery(self) -> Gallery:
        return clustered(self.n_faces, self.dim, seed=self.seed, decay=self.decay)


def _specs(sizes128: list[int], sizes512: list[int]) -> list[DomainSpec]:
    def label(n: int) -> str:
        return f"{n // 1000}k" if n >= 1000 else str(n)

    return [DomainSpec(f"bench-d128-{label(n)}", "Dlib", n) for n in sizes128] + [
        DomainSpec(f"bench-d512-{label(n)}", "ArcFace", n) for n in sizes512
    ]


FULL = _specs([300_000, 30_000, 10_000, 3_000, 1_000, 300, 30], [30_000, 3_000, 300])
QUICK = _specs([30_000, 10_000, 3_000, 1_000, 300, 30], [3_000, 1_000, 300, 30])
# The search section's stress rows (bench/synthetic.py): the same sizes as a target row, isotropic.
STRESS_FULL = [DomainSpec("bench-d128-30k-iso", "Dlib", 30_000, decay=0.0)]
STRESS_QUICK = [DomainSpec("bench-d128-10k-iso", "Dlib", 10_000, decay=0.0)]


def ensure(specs: list[DomainSpec], *, log=print) -> dict[str, object]:
    """Create or reuse each domain with exactly its synthetic gallery; returns the Domain rows.

    A domain is reused when its name records the same generator settings, it holds the expected
    number of faces and its HNSW index exists (the vectors are a pure function of the slug and
    those settings)."""
    from gallery import indexes
    from gallery.models import Domain, FaceEmbedding

    domains = {}
    for spec in specs:
        domain = Domain.objects.filter(slug=spec.slug).first()
        if domain is not None:
            count = FaceEmbedding.objects.filter(domain=domain, model_name=spec.model_name, alignment=domain.alignment).count()
            if domain.name == spec.label and count == spec.n_faces:
                if not indexes.vector_index_current(
                    domain_id=domain.id, model_name=spec.model_name, alignment=domain.alignment
                ):
                    _index_build(domain, spec, log=log)
                domains[spec.slug] = domain
                continue
            domain_purge(domain)
        domains[spec.slug] = _domain_build(spec, log=log)
    return domains


def domain_purge(domain) -> None:
    """Delete a bench domain with plain SQL (the ORM's cascade would load 300k rows first)."""
    from django.db import connection

    from gallery import indexes
    from gallery.models import Domain

    indexes.vector_indexes_drop(domain_id=domain.id)
    with connection.cursor() as cursor:
        for table in ("gallery_faceembedding", "gallery_facephoto", "gallery_person"):
            cursor.execute(f"DELETE FROM {table} WHERE domain_id = %s", [domain.id])
    Domain.objects.filter(pk=domain.pk).delete()  # what is left is small: keys, task records


def _domain_build(spec: DomainSpec, *, log) -> object:
    from django.db import connection

    from gallery.models import Domain

    started = time.perf_counter()
    # Created directly rather than through domain_create: the 512-d domains stand in for ArcFace,
    # whose weights need not be on this machine (only its vectors are searched here).
    domain = Domain.objects.create(slug=spec.slug, name=spec.label, model_name=spec.model_name, detector="dlib")
    gallery_load(domain, spec.gallery())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE gallery_faceembedding")
        cursor.execute("ANALYZE gallery_person")
    log(f"  {spec.slug}: {spec.n_faces:,} faces loaded in {time.perf_counter() - started:.1f}s")
    _index_build(domain, spec, log=log)
    return domain


def _index_build(domain, spec: DomainSpec, *, log) -> None:
    from gallery import indexes

    started = time.perf_counter()
    indexes.vector_index_drop(domain_id=domain.id, model_name=spec.model_name, alignment=domain.alignment)
    indexes.vector_index_ensure(
        domain_id=domain.id, model_name=spec.model_name, alignment=domain.alignment, build_memory="1GB"
    )
    log(f"  {spec.slug}: HNSW index built in {time.perf_counter() - started:.1f}s")
