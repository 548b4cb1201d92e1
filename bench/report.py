"""The benchmark's report: the machine it ran on, every target with whether it holds, and
bench/results/latest.md (``python -m bench.run`` writes it with latest.json)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

from bench.env import ROOT


def machine() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), (SELECT extversion FROM pg_extension WHERE extname='vector')")
        postgres, pgvector = cursor.fetchone()
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    memory_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgres": postgres,
        "pgvector": pgvector,
        "commit": commit,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def targets(results: dict) -> list[dict]:
    """Every target of the issue, with the measured value and whether it holds."""
    checks = []

    def check(name: str, value, target: str, ok: bool) -> None:
        checks.append({"figure": name, "value": value, "target": target, "ok": bool(ok)})

    if "recognize" in results:
        r = results["recognize"]
        check("recognize.ratio_to_floor", r["ratio_to_floor"], "<= 1.3", r["ratio_to_floor"] <= 1.3)
        c = results["cold_start"]
        check("cold_start.first_request_ratio", c["first_request_ratio"], "<= 1.5", c["first_request_ratio"] <= 1.5)
        check("cold_start.seconds_to_ready_dlib_only", c["seconds_to_ready_dlib_only"], "<= 1.0 s",
              c["seconds_to_ready_dlib_only"] <= 1.0)
        m = results["rss_mb"]
        check("rss_mb.idle_dlib_only", m["idle_dlib_only"], "<= 100 MB, no TensorFlow",
              m["idle_dlib_only"] <= 100 and not m["tensorflow_loaded"])
        check("rss_mb growth over 1,000 requests", m["growth_over_requests"], "<= 50 MB", m["growth_over_requests"] <= 50)
        check("rss_mb growth 30k -> 300k faces", m["growth_30k_to_300k"], "<= 50 MB", m["growth_30k_to_300k"] <= 50)
    for row in results.get("throughput", []):
        if row["clients"] >= 2:
            check(f"throughput.efficiency {row['clients']} clients", row["efficiency"], ">= 0.8", row["efficiency"] >= 0.8)
    if "deepface_find" in results:
        f = results["deepface_find"]
        check("deepface_find.speedup", f["speedup"], ">= 10", f["speedup"] >= 10)
    for row in results.get("search", []):
        if row.get("stress"):
            continue  # reported, with no target: the isotropic worst case (bench/synthetic.py)
        if row["n_per_domain"] == 30_000:
            check(f"search p50_ms {row['domain']}", row["p50_ms"], "<= 5 ms", row["p50_ms"] <= 5)
        check(f"search recall_at_10 {row['domain']}", row["recall_at_10"], ">= 0.99", row["recall_at_10"] >= 0.99)
    if "floor" in results:
        f = results["floor"]
        check("floor (detect + embed) / dlib-bin's", f["ratio_to_baseline"], "<= 0.6", f["ratio_to_baseline"] <= 0.6)
    if "archives" in results:
        a = results["archives"]["search"]
        recall = a["with_10x_unassigned"]["recall_at_10"]
        check("archives.search recall_at_10 with 10x unassigned", recall, ">= 0.99", recall >= 0.99)
        check("archives.search p50 ratio with/without 10x unassigned", a["p50_ratio"], "<= 1.2", a["p50_ratio"] <= 1.2)
    if "ingest" in results:
        i = results["ingest"]
        check("ingest.scaling", i["scaling"], ">= 1.6", i["scaling"] >= 1.6)
    return checks


def missed(results: dict) -> list[dict]:
    """The targets of ``results`` that do not hold (``results["targets"]``, as ``targets`` made them)."""
    return [target for target in results["targets"] if not target["ok"]]


def exit_status(results: dict) -> int:
    """``make bench``'s exit status: 1 when any target is missed, so a regression fails the run."""
    return 1 if missed(results) else 0


def markdown(results: dict) -> str:
    lines = [
        "# facerec benchmark results",
        "",
        f"Run {results['when']} on {results['machine']['cpu']} ({results['machine']['cores']} cores, "
        f"{results['machine']['memory_gb']} GB), PostgreSQL {results['machine']['postgres']}, pgvector "
        f"{results['machine']['pgvector']}, commit {results['machine']['commit']}"
        f"{' — QUICK mode' if results['quick'] else ''}. Command: `{results['command']}`.",
        "",
        "## Targets",
        "",
        "| figure | value | target | holds |",
        "|---|---|---|---|",
    ]
    lines += [f"| {t['figure']} | {t['value']} | {t['target']} | {'yes' if t['ok'] else '**NO**'} |" for t in results["targets"]]
    if results.get("search"):
        lines += ["", "## Search (ANN vs exact, per domain)", "",
                  "| domain | faces | dim | p50 ms | p95 ms | recall@10 | worst query | same answer | top-1 agreement | exact p50 ms |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [
            f"| {r['domain']}{' (stress, no target)' if r.get('stress') else ''} |"
            f" {r['n_per_domain']:,} | {r['dim']} | {r['p50_ms']} | {r['p95_ms']} | {r['recall_at_10']} | "
            f"{r['min_recall_at_10']} | {r['match_agreement']} | {r['top1_agreement']} | {r['exact_p50_ms']} |"
            for r in results["search"]
        ]
        lines += ["", f"{results['search'][0]['domains']} domains, {results['search'][0]['table_faces']:,} faces of two "
                  "models in one table. recall@10 = share of the exact 10 nearest faces that ANN returns; same answer = "
                  "share of queries matched to the same person (or unknown) both ways. A stress row's vectors are isotropic "
                  "(full-rank noise, the worst case of bench/synthetic.py, harder than real faces): reported, with no target."]
    if results.get("throughput"):
        lines += ["", "## Throughput (concurrent clients, single-face photos)", "",
                  "| clients | req/s | capacity req/s | efficiency | workers |", "|---|---|---|---|---|"]
        lines += [f"| {r['clients']} | {r['req_per_s']} | {r['capacity_req_per_s']} | {r['efficiency']} | {r['workers']} |"
                  for r in results["throughput"]]
        lines += ["", "capacity = cores x 1000 / the floor's p50 (bench/floor.py, same run)."]
    if results.get("archives"):
        c, a = results["archives"]["clustering"], results["archives"]["search"]
        lines += ["", "## Archives (unassigned faces)", "",
                  "| clustering faces | identities | seconds | faces/s | clusters | pairwise precision | pairwise recall |",
                  "|---|---|---|---|---|---|---|",
                  f"| {c['faces']:,} | {c['identities']:,} | {c['seconds']} | {c['faces_per_s']} | {c['clusters']:,} | "
                  f"{c['pairwise_precision']} | {c['pairwise_recall']} |",
                  "", "| persons' search | assigned faces | unassigned faces | p50 ms | recall@10 |", "|---|---|---|---|---|"]
        for label in ("without", "with_10x_unassigned"):
            row = a[label]
            lines.append(f"| {label} | {a['assigned_faces']:,} | {a['unassigned_faces'] if label != 'without' else 0:,} | "
                         f"{row['p50_ms']} | {row['recall_at_10']} |")
        lines += ["", f"p50 ratio with/without: {a['p50_ratio']}. Synthetic clustered vectors (bench/synthetic.py); "
                  "recall@10 against exact search of the same domain."]
    for section in ("recognize", "cold_start", "rss_mb", "deepface_find", "shadow", "ingest", "floor"):
        if section in results:
            lines += ["", f"## {section}", "", "```json", json.dumps(results[section], indent=2), "```"]
    return "\n".join(lines) + "\n"
