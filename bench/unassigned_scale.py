"""A person's search with and without ten times as many unassigned faces in its domain.

``python -m bench.unassigned_scale [--faces N] [--queries Q]`` loads the same synthetic gallery of
N assigned faces (clustered, 128-d) into two domains, adds 10 N unassigned faces (archive faces of
other people) to the second, builds both domains' graphs, and measures the persons' nearest-face
search (ANN, k=10) in each: p50 latency and recall@10 against exact search. Unassigned faces live
in their own graph (gallery.indexes), so the two rows should match.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _build(slug: str, gallery, unassigned) -> object:
    from django.db import connection

    from bench.galleries import domain_purge
    from bench.synthetic import gallery_load
    from gallery import indexes
    from gallery.models import Domain

    old = Domain.objects.filter(slug=slug).first()
    if old is not None:
        domain_purge(old)
    domain = Domain.objects.create(slug=slug, name=slug, model_name="Dlib", detector="dlib")
    gallery_load(domain, gallery)
    if unassigned is not None:
        gallery_load(domain, unassigned, name_prefix="Unknown")
        with connection.cursor() as cursor:  # archive faces: no person (photos first, then faces)
            unknown = "SELECT id FROM gallery_person WHERE domain_id = %s AND name LIKE 'Unknown %%'"
            cursor.execute(f"UPDATE gallery_facephoto SET person_id = NULL WHERE person_id IN ({unknown})", [domain.id])
            cursor.execute(f"UPDATE gallery_faceembedding SET person_id = NULL WHERE person_id IN ({unknown})", [domain.id])
            cursor.execute("DELETE FROM gallery_person WHERE domain_id = %s AND name LIKE 'Unknown %%'", [domain.id])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE gallery_faceembedding")
    indexes.vector_index_ensure(domain_id=domain.id, model_name="Dlib", alignment=domain.alignment, build_memory="512MB")
    return domain


def _measure(domain, queries) -> tuple[float, float]:
    from gallery.models import FaceEmbedding

    scope = {"domain_id": domain.id, "model_name": "Dlib", "alignment": domain.alignment, "k": 10}
    latencies, recalls = [], []
    for vector in queries:
        started = time.perf_counter()
        ann = FaceEmbedding.objects.nearest_faces(vector, **scope)
        latencies.append((time.perf_counter() - started) * 1000)
        exact = FaceEmbedding.objects.nearest_faces(vector, exact=True, **scope)
        recalls.append(len({h.face_id for h in ann} & {h.face_id for h in exact}) / max(len(exact), 1))
    return statistics.median(latencies), statistics.mean(recalls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=30_000, help="Assigned faces per domain (default 30,000)")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    import django

    django.setup()
    from bench.synthetic import clustered

    gallery = clustered(args.faces, 128, seed=12)
    unassigned = clustered(10 * args.faces, 128, seed=1212)
    queries = gallery.queries(args.queries, seed=7)
    rows = {}
    for slug, extra in (("bench-unassigned-0x", None), ("bench-unassigned-10x", unassigned)):
        started = time.perf_counter()
        domain = _build(slug, gallery, extra)
        _measure(domain, queries[:20])  # warm
        rows[slug] = _measure(domain, queries)
        print(f"{slug}: built in {time.perf_counter() - started:.0f}s; p50 {rows[slug][0]:.2f} ms, "
              f"recall@10 {rows[slug][1]:.4f}", flush=True)
    base, ten = rows["bench-unassigned-0x"], rows["bench-unassigned-10x"]
    print(f"10x unassigned faces: p50 {ten[0] / base[0]:.2f}x of the row without them; recall@10 {ten[1]:.4f}")


if __name__ == "__main__":
    main()
