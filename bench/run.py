"""``make bench`` / ``make bench-quick``: measure facerec against its baselines, in one run.

Writes bench/results/latest.json and bench/results/latest.md. Every figure is taken in this run
next to its baseline: recognize over HTTP vs the bare detector + recognizer, DeepFace.find vs our
recognize over the same 30k faces, ANN vs exact search on the same domains, 2 ingest workers vs 1
process, the first request vs warm ones, RSS after 1,000 requests vs idle and at 300k vs 30k,
recognize with shadow mode on vs off over a 30k-row pickle, a person's search with vs without ten
times as many unassigned (archive) faces, and clustering throughput and quality on synthetic
identities.

    python -m bench.run [--quick] [--fresh] [--only search,recognize,throughput,find,shadow,ingest,floor,archives]

Exits 1 when any target is missed (bench/report.py ``targets``), 0 when all hold.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.env import ROOT, open_bench_database
from bench.report import exit_status, machine, markdown, missed, targets

RESULTS = ROOT / "bench" / "results"
PHOTO = ROOT / "bench" / "data" / "photo_1600.jpg"  # one face, 1600x1073, as a client sends it
# Not 100k/10k: on 2 cores clustering runs at ~78 faces/s (1,000 synthetic faces in 12.9 s, one
# short transaction per face), so 100k would take ~21 minutes. The full run's N finishes in a
# minute or two; faces/s is what to compare.
ARCHIVE_CLUSTER_FULL = 5_000
ARCHIVE_CLUSTER_QUICK = 1_000
SMALL_PHOTO = ROOT / "tests" / "data" / "faces" / "img1.jpg"  # one face, 473x640
SECTIONS = ("search", "recognize", "throughput", "find", "shadow", "ingest", "floor", "archives")


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


# --- search -----------------------------------------------------------------------------------


def bench_search(specs, domains, *, queries: int) -> list[dict]:
    from faces.models_zoo import default_threshold
    from gallery.models import Domain, FaceEmbedding
    from recognition.search_validation import measure_agreement

    in_table = Domain.objects.count()  # the benchmark's domains, and any others in this database
    total = FaceEmbedding.objects.count()
    rows = []
    for spec in specs:
        domain = domains[spec.slug]
        vectors = spec.gallery().queries(queries, seed=spec.seed + 1)
        scope = {"domain_id": domain.id, "model_name": spec.model_name, "alignment": domain.alignment,
                 "threshold": default_threshold(spec.model_name, domain.alignment)}
        measure_agreement(vectors[:10], **scope)  # warm the index pages and the connection
        result = measure_agreement(vectors, **scope)
        rows.append(
            {
                "domain": spec.slug,
                "n_per_domain": spec.n_faces,
                "domains": in_table,
                "table_faces": total,
                "dim": spec.dim,
                "model": spec.model_name,
                "queries": result.queries,
                "p50_ms": round(result.ann_p50_ms, 2),
                "p95_ms": round(result.ann_p95_ms, 2),
                "recall_at_10": round(result.recall_at_k, 4),
                "min_recall_at_10": round(result.min_recall, 2),
                "top1_agreement": round(result.top1_agreement, 4),
                "match_agreement": round(result.match_agreement, 4),
                "top5_overlap": round(result.top5_overlap, 4),
                "exact_p50_ms": round(result.exact_p50_ms, 2),
                "exact_p95_ms": round(result.exact_p95_ms, 2),
                "stress": spec.stress,
            }
        )
        row = rows[-1]
        stress = " (stress, no target)" if spec.stress else ""
        log(f"  search {spec.slug}{stress}: p50 {row['p50_ms']} ms, recall@10 {row['recall_at_10']}, exact p50 {row['exact_p50_ms']} ms")
    return rows


# --- recognize, cold start, memory --------------------------------------------------------------


def api_key_for(domain) -> str:
    from gallery.services import api_key_create

    _, secret = api_key_create(name=f"bench-{domain.slug}-{int(time.time())}", domains=[domain])
    return secret


def bench_recognize(domain, large_domain, *, rounds: int, per_round: int, requests_for_rss: int) -> dict:
    from bench.floor import Floor
    from bench.server import Server

    image = PHOTO.read_bytes()
    key = api_key_for(domain)
    floor = Floor(image)
    for _ in range(3):
        floor.once()
    with Server(name="web-30k") as server:
        ready_s = server.start()
        first_ms, body = server.recognize(key, image)
        assert len(body["faces"]) == 1, body
        for _ in range(5):
            server.recognize(key, image)
        # Every domain of the bench database is Dlib (the 512-d "ArcFace" ones have no weights to
        # warm): the worker should run on dlib alone, which its mapped libraries show.
        idle_dlib_only = server.worker_rss_mb()
        tensorflow_loaded = server.workers_load("tensorflow")
        http_ms, floor_ms = [], []
        # Interleaved, so that any background load on the machine hits both alike.
        for _ in range(rounds):
            floor_ms += [floor.once() for _ in range(per_round)]
            http_ms += [server.recognize(key, image)[0] for _ in range(per_round)]
        idle_30k = server.worker_rss_mb()
        for _ in range(requests_for_rss):
            server.recognize(key, image)
        after_30k = server.worker_rss_mb()
    log(f"  recognize p50 {pct(http_ms, 50)} ms vs floor {pct(floor_ms, 50)} ms; ready in {ready_s:.1f}s, first request {first_ms:.0f} ms")
    large_key = api_key_for(large_domain)
    with Server(name="web-large") as server:
        server.start()
        for _ in range(10):
            server.recognize(large_key, image)
        idle_large = server.worker_rss_mb()
    warm_p50 = float(np.percentile(http_ms, 50))
    return {
        "recognize": {
            "p50_ms": pct(http_ms, 50),
            "p95_ms": pct(http_ms, 95),
            "floor_p50_ms": pct(floor_ms, 50),
            "floor_p95_ms": pct(floor_ms, 95),
            "ratio_to_floor": round(warm_p50 / float(np.percentile(floor_ms, 50)), 3),
            "requests": len(http_ms),
            "domain_faces": domain.faces.count(),
            "photo": str(PHOTO.relative_to(ROOT)),
            "server": "gunicorn -c deploy/gunicorn.conf.py, 1 sync worker; floor: 1 process",
        },
        "cold_start": {
            "seconds_to_ready": round(ready_s, 2),
            "seconds_to_ready_dlib_only": round(ready_s, 2),
            "first_request_ms": round(first_ms, 1),
            "warm_p50_ms": round(warm_p50, 1),
            "first_request_ratio": round(first_ms / warm_p50, 3),
        },
        "rss_mb": {
            "idle_dlib_only": round(idle_dlib_only, 1),
            "tensorflow_loaded": tensorflow_loaded,
            "idle_30k": round(idle_30k, 1),
            "after_1000_30k": round(after_30k, 1),
            "requests": requests_for_rss,
            "idle_300k": round(idle_large, 1),
            "large_domain_faces": large_domain.faces.count(),
            "growth_over_requests": round(after_30k - idle_30k, 1),
            "growth_30k_to_300k": round(idle_large - idle_30k, 1),
        },
    }


def bench_throughput(domain, *, floor_p50_ms: float | None, seconds: float) -> list[dict]:
    """N = 1, 2, 4 clients against gunicorn with the deploy config's worker count, vs the capacity
    of the cores at the floor's p50 (measured here unless the recognize section just did)."""
    from bench.floor import Floor
    from bench.server import Server
    from bench.throughput import throughput_rows

    image = PHOTO.read_bytes()
    if floor_p50_ms is None:
        floor = Floor(image)
        floor_p50_ms = float(np.percentile([floor.once() for _ in range(23)][3:], 50))
    key = api_key_for(domain)
    with Server(workers=None, name="web-throughput") as server:
        server.start()
        rows = throughput_rows(server.url, key, image, floor_p50_ms=floor_p50_ms, seconds=seconds)
        workers = len(server.worker_pids())
    for row in rows:
        row["workers"] = workers
        log(f"  {row['clients']} clients: {row['req_per_s']} req/s of {row['capacity_req_per_s']} "
            f"({row['efficiency']:.0%}, {workers} workers)")
    return rows


# --- the old way ----------------------------------------------------------------------------------


def _find_vs_ours(server, key: str, folder, photo, *, runs: int) -> tuple[list[float], list[float]]:
    from bench.find import find_once

    image, find_ms, ours_ms = photo.read_bytes(), [], []
    for _ in range(3):
        server.recognize(key, image)
    for _ in range(runs):
        find_ms.append(find_once(folder, photo))
        ours_ms += [server.recognize(key, image)[0] for _ in range(10)]
    return find_ms, ours_ms


def bench_find(spec, domain, *, runs: int) -> dict:
    """DeepFace.find vs our recognize, alternated (a find call, then 10 recognize requests), so
    that any change of load on the machine hits both alike; with the client's photo and again
    with a 640-px copy (where our resize saves nothing)."""
    from bench.find import find_once, gallery_folder
    from bench.server import Server

    gallery = spec.gallery()
    folder = gallery_folder(gallery.vectors, gallery.person_of)
    key = api_key_for(domain)
    find_once(folder, PHOTO)  # builds DeepFace's models: not part of a query
    with Server(name="web-find") as server:
        server.start()
        find_ms, ours_ms = _find_vs_ours(server, key, folder, PHOTO, runs=runs)
        small_find_ms, small_ours_ms = _find_vs_ours(server, key, folder, SMALL_PHOTO, runs=max(2, runs // 2))
    p50, ours = float(np.percentile(find_ms, 50)), float(np.percentile(ours_ms, 50))
    small_p50, small_ours = float(np.percentile(small_find_ms, 50)), float(np.percentile(small_ours_ms, 50))
    log(f"  DeepFace.find over {spec.n_faces:,} faces: p50 {p50:.0f} ms vs ours {ours:.0f} ms "
        f"(640-px photo: {small_p50:.0f} vs {small_ours:.0f} ms)")
    return {
        "n": spec.n_faces,
        "p50_ms": round(p50, 1),
        "runs": len(find_ms),
        "ours_p50_ms": round(ours, 1),
        "ours_requests": len(ours_ms),
        "speedup": round(p50 / ours, 2),
        "photo": str(PHOTO.relative_to(ROOT)),
        "small_photo": {
            "photo": str(SMALL_PHOTO.relative_to(ROOT)),
            "p50_ms": round(small_p50, 1),
            "ours_p50_ms": round(small_ours, 1),
            "speedup": round(small_p50 / small_ours, 2),
        },
        "how": "DeepFace.find(photo, db_path, model_name='Dlib', detector_backend='dlib') over a folder of "
        "hard links with a datastore of the same synthetic embeddings as our domain, alternated with "
        "our recognize over HTTP on that domain",
    }


def bench_ingest(*, variants: int) -> dict:
    """1 process, 2 workers, 2 workers, 1 process (an ABBA order, so that load on the machine
    that drifts during the measurement weighs on both alike); the figures are the means."""
    from bench.ingest import ingest_rate, photo_folder

    folder, count = photo_folder(variants)
    runs = {1: [], 2: []}
    for workers in (1, 2, 2, 1):
        runs[workers].append(ingest_rate(folder, workers=workers))
    single = float(np.mean([rate for rate, _ in runs[1]]))
    double = float(np.mean([rate for rate, _ in runs[2]]))
    log(f"  ingest {count} photos: 1 process {single:.2f} photos/s, 2 workers {double:.2f} photos/s")
    return {
        "workers": 2,
        "photos": count,
        "photos_per_s": round(double, 2),
        "floor_photos_per_s": round(single, 2),
        "scaling": round(double / single, 3),
        "runs": {str(w): [{"photos_per_s": rate, "wall_s": round(wall, 1)} for rate, wall in runs[w]] for w in runs},
        "how": "manage.py ingest_images DIR --workers N into a fresh domain, in the order 1, 2, 2, 1; its own photos/s",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Smaller galleries and fewer requests (minutes, for development)")
    parser.add_argument("--fresh", action="store_true", help="Drop the bench database and rebuild every gallery")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"Comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--output", type=Path, default=RESULTS, help="Folder for latest.json and latest.md")
    args = parser.parse_args()
    only = set(args.only.split(","))
    started = time.perf_counter()

    open_bench_database(fresh=args.fresh)
    from bench import galleries

    specs = galleries.QUICK if args.quick else galleries.FULL
    log(f"galleries: {len(specs)} domains, {sum(s.n_faces for s in specs):,} faces")
    domains = galleries.ensure(specs, log=log)
    results: dict = {"quick": args.quick, "command": "make bench-quick" if args.quick else "make bench"}

    if "search" in only:
        stress = galleries.STRESS_QUICK if args.quick else galleries.STRESS_FULL
        domains.update(galleries.ensure(stress, log=log))
        log("search: ANN vs exact (and the isotropic stress rows, no target)")
        results["search"] = bench_search(specs + stress, domains, queries=50 if args.quick else 200)
    d30k = next(s for s in specs if s.slug == "bench-d128-30k")
    largest = max((s for s in specs if s.model_name == "Dlib"), key=lambda s: s.n_faces)
    if "recognize" in only:
        log("recognize: HTTP vs floor, cold start, memory")
        results.update(
            bench_recognize(
                domains[d30k.slug], domains[largest.slug],
                rounds=4 if args.quick else 10, per_round=10,
                requests_for_rss=100 if args.quick else 1000,
            )
        )
    if "throughput" in only:
        log("throughput: 1, 2, 4 clients vs the cores' capacity at the floor")
        floor_p50 = results["recognize"]["floor_p50_ms"] if "recognize" in results else None
        results["throughput"] = bench_throughput(domains[d30k.slug], floor_p50_ms=floor_p50, seconds=8 if args.quick else 30)
    if "find" in only:
        log("deepface_find: DeepFace.find over the same 30k faces")
        results["deepface_find"] = bench_find(d30k, domains[d30k.slug], runs=3 if args.quick else 7)
    if "shadow" in only:
        from bench.shadow import bench_shadow

        log("shadow: recognize with shadow mode on vs off, 30k pickle rows")
        results["shadow"] = bench_shadow(
            d30k, domains[d30k.slug], photo=PHOTO, api_key=api_key_for(domains[d30k.slug]),
            rounds=3 if args.quick else 10, per_round=10, log=log,
        )
    if "ingest" in only:
        log("ingest: 2 workers vs 1 process")
        results["ingest"] = bench_ingest(variants=1 if args.quick else 3)

    if "floor" in only:
        from bench.floor import compare_builds

        log("floor: dlib's detector and ResNet, this install's dlib vs the dlib-bin wheel")
        results["floor"] = compare_builds(PHOTO, rounds=10 if args.quick else 30)
        f = results["floor"]
        log(f"  detect {f['detect_ms']} ms, embed {f['embed_ms']} ms; "
            f"dlib-bin: {f['baseline_detect_ms']} and {f['baseline_embed_ms']} ms")
    if "archives" in only:
        from bench.unassigned_scale import archive_search, cluster_throughput

        n_cluster = ARCHIVE_CLUSTER_QUICK if args.quick else ARCHIVE_CLUSTER_FULL
        n_search = 3_000 if args.quick else 30_000
        log(f"archives: clustering {n_cluster:,} unassigned faces; search at {n_search:,} with 10x unassigned")
        results["archives"] = {
            "clustering": cluster_throughput(n_cluster, log=log),
            "search": archive_search(n_search, queries=50 if args.quick else 200, log=log),
        }

    results["machine"] = machine()
    results["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["duration_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = targets(results)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "latest.md").write_text(markdown(results))
    log(f"wrote {args.output / 'latest.json'} and latest.md in {results['duration_s']:.0f}s")
    for target in results["targets"]:
        log(f"  {'ok ' if target['ok'] else 'MISS'} {target['figure']}: {target['value']} (target {target['target']})")
    if missed(results):
        log(f"{len(missed(results))} target(s) missed")
    sys.exit(exit_status(results))


if __name__ == "__main__":
    main()
