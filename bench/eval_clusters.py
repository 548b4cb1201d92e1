"""How well clusters of unassigned faces match the true people: pairwise precision and recall.

``python -m bench.eval_clusters [DIR] [--domain SLUG]`` ingests every photo of DIR (default
eval-dev's identities: 18 people the model never saw, 5 photos each) with ``ingest_images
--unlabeled`` into a fresh domain, so the folder names are ignored, clusters them, and compares the
clusters of each photo's largest face with the person its folder names.

Pairwise: over every pair of those faces, precision is the share of pairs put in one cluster that
are one person, recall the share of one person's pairs that were put in one cluster.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

EVAL_DEV = Path("/work/shared/faces/eval-dev/identities")


def pairwise_scores(truth: dict[int, str], clusters: dict[int, int | None]) -> tuple[float, float]:
    """(precision, recall) of ``clusters`` (face -> cluster, None for none) against ``truth``
    (face -> person). A face outside every cluster is with nobody. Pairs are counted, not listed
    (C(n, 2) per cluster, person and (cluster, person) cell), so 100k faces take a second."""

    def pairs(counter: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    faces = [face for face in truth if clusters.get(face) is not None]
    together = pairs(Counter(clusters[face] for face in faces))
    same = pairs(Counter(truth.values()))
    both = pairs(Counter((clusters[face], truth[face]) for face in faces))
    return (both / together if together else 1.0), (both / same if same else 1.0)


def faces_truth(domain, root: Path) -> tuple[dict[int, str], dict[int, int | None]]:
    """Each ingested photo's largest face: its person (the folder under ``root``) and its cluster."""
    from gallery.models import FaceEmbedding

    truth, clusters = {}, {}
    rows = FaceEmbedding.objects.filter(domain=domain, position=0, person__isnull=True).values_list(
        "id", "photo__source_name", "cluster_id"
    )
    for face_id, source, cluster_id in rows:
        truth[face_id] = Path(source).resolve().relative_to(root.resolve()).parts[0]
        clusters[face_id] = cluster_id
    return truth, clusters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=EVAL_DEV)
    parser.add_argument("--domain", default="eval-clusters")
    args = parser.parse_args()
    from bench.env import open_bench_database

    open_bench_database()  # its domain is removed and ingested anew: never in the dev database
    from django.core.management import call_command

    from gallery import services
    from gallery.models import Domain

    existing = Domain.objects.filter(slug=args.domain).first()
    if existing is not None:
        services.domain_remove(domain=existing)
    call_command("ingest_images", str(args.dir), domain=args.domain, unlabeled=True, no_progress=True)
    domain = Domain.objects.get(slug=args.domain)
    truth, clusters = faces_truth(domain, args.dir)
    precision, recall = pairwise_scores(truth, clusters)
    sizes = Counter(Counter(c for c in clusters.values() if c is not None).values())
    print(f"{len(truth)} faces of {len(set(truth.values()))} people -> "
          f"{len({c for c in clusters.values() if c is not None})} clusters (sizes: {dict(sorted(sizes.items()))}); "
          f"threshold {domain.effective_threshold}: pairwise precision {precision:.3f}, recall {recall:.3f}")
    sys.exit(0)


if __name__ == "__main__":
    main()
