"""Archives at scale: a person's search with and without ten times as many unassigned faces in its
domain, and clustering throughput (``make bench``'s ``archives`` section, bench/run.py).

``python -m bench.unassigned_scale [--faces N] [--queries Q]`` loads the same synthetic gallery of
N assigned faces (clustered, 128-d) into two domains, adds 10 N unassigned faces (archive faces of
other people) to the second, builds both domains' graphs, and measures the persons' nearest-face
search (ANN, k=10) in each: p50 latency and recall@10 against exact search. Unassigned faces live
in their own graph (gallery.indexes), so the two rows should match.

``cluster_throughput`` loads N unassigned synthetic faces (clustered vectors: identities exist)
into one domain and times ``clusters_update`` over them: seconds, faces/s, clusters found, and
pairwise precision/recall against the synthetic identities (bench.eval_clusters).
"""

from __future__ import annotations

import argparse
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
    if gallery is not None:
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


def _measure(domains: dict[str, object], queries) -> dict[str, tuple[float, float]]:
    """Per domain: the p50 of the persons' nearest-face search (ANN, k=10) and its exact-recall@10.

    The domains take turns query by query (and which goes first alternates), so that the machine's
    drifting speed and background work (autovacuum after a bulk load, a checkpoint) weigh on both
    rows alike. All ANN searches run before the exact ones, as in recognition.search_validation:
    an exact search of the domain with 300k unassigned faces reads far more pages than the
    buffer cache holds, and run between two ANN searches it evicted the graph the next one walked
    (that alone made the row with unassigned faces ~1.25x slower)."""
    from gallery.models import FaceEmbedding

    def scope(label: str) -> dict:
        return {"domain_id": domains[label].id, "model_name": "Dlib", "alignment": domains[label].alignment, "k": 10}

    labels = list(domains)
    latencies, found = {label: [] for label in labels}, {label: [] for label in labels}
    for i, vector in enumerate(queries):
        for label in labels if i % 2 == 0 else labels[::-1]:
            started = time.perf_counter()
            found[label].append({hit.face_id for hit in FaceEmbedding.objects.nearest_faces(vector, **scope(label))})
            latencies[label].append((time.perf_counter() - started) * 1000)
    figures = {}
    for label in labels:
        recalls = []
        for vector, ann in zip(queries, found[label], strict=True):
            exact = {hit.face_id for hit in FaceEmbedding.objects.nearest_faces(vector, exact=True, **scope(label))}
            recalls.append(len(ann & exact) / max(len(exact), 1))
        figures[label] = (statistics.median(latencies[label]), statistics.mean(recalls))
    return figures


def archive_search(n_faces: int, *, queries: int, log=print) -> dict:
    """The persons' search of a domain of ``n_faces`` assigned faces, without and with 10 x
    ``n_faces`` unassigned ones: p50 (ANN, k=10) and exact-recall@10 of each, and their ratio."""
    from bench.synthetic import clustered

    gallery = clustered(n_faces, 128, seed=12)
    unassigned = clustered(10 * n_faces, 128, seed=1212)
    probes = gallery.queries(queries, seed=7)
    domains, build_s = {}, {}
    for label, extra in (("without", None), ("with_10x_unassigned", unassigned)):
        started = time.perf_counter()
        domains[label] = _build(f"bench-unassigned-{'10x' if extra is not None else '0x'}", gallery, extra)
        build_s[label] = round(time.perf_counter() - started, 1)
    _measure(domains, probes[:20])  # warm
    measured = _measure(domains, probes)
    rows = {}
    for label, (p50, recall) in measured.items():
        rows[label] = {"p50_ms": round(p50, 2), "recall_at_10": round(recall, 4), "build_s": build_s[label]}
        log(f"archives search {label}: p50 {p50:.2f} ms, recall@10 {recall:.4f}")
    return {
        "assigned_faces": n_faces, "unassigned_faces": 10 * n_faces, "queries": queries, **rows,
        "p50_ratio": round(rows["with_10x_unassigned"]["p50_ms"] / rows["without"]["p50_ms"], 2),
    }


def cluster_throughput(n_faces: int, *, log=print) -> dict:
    """``clusters_update`` over ``n_faces`` unassigned synthetic faces of one domain."""
    from bench.eval_clusters import pairwise_scores
    from bench.synthetic import clustered
    from gallery import services
    from gallery.models import FaceEmbedding

    faces = clustered(n_faces, 128, seed=1207)
    domain = _build("bench-archive-clusters", None, faces)
    ids = list(FaceEmbedding.objects.filter(domain=domain).order_by("id").values_list("id", flat=True))
    truth = dict(zip(ids, faces.person_of.tolist(), strict=True))  # loaded in order: the i-th face is person_of[i]
    log(f"archives clustering: {n_faces:,} unassigned faces of {len(faces.centroids):,} identities")
    started = time.perf_counter()
    outcome = services.clusters_update(domain=domain)
    seconds = time.perf_counter() - started
    clusters = dict(FaceEmbedding.objects.filter(domain=domain).values_list("id", "cluster_id"))
    precision, recall = pairwise_scores(truth, clusters)
    found = len({c for c in clusters.values() if c is not None})
    log(f"archives clustering: {seconds:.0f} s, {n_faces / seconds:.0f} faces/s, {found:,} clusters, "
        f"precision {precision:.3f}, recall {recall:.3f}")
    return {
        "faces": n_faces, "identities": len(faces.centroids), "seconds": round(seconds, 1),
        "faces_per_s": round(n_faces / seconds, 1), "clusters": found, "merged": outcome["merged"],
        "pairwise_precision": round(precision, 4), "pairwise_recall": round(recall, 4),
        "threshold": domain.effective_threshold,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=30_000, help="Assigned faces per domain (default 30,000)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cluster", type=int, default=0, help="Also time clustering of this many unassigned faces")
    args = parser.parse_args()
    from bench.env import open_bench_database

    open_bench_database()  # its domains are purged and rebuilt: never in the dev database
    row = archive_search(args.faces, queries=args.queries)
    print(f"10x unassigned faces: p50 {row['p50_ratio']:.2f}x of the row without them; "
          f"recall@10 {row['with_10x_unassigned']['recall_at_10']:.4f}")
    if args.cluster:
        print(cluster_throughput(args.cluster))


if __name__ == "__main__":
    main()
