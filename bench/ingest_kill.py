"""Kill-and-rerun: ``ingest_images --workers 2`` SIGKILLed mid-run, then rerun, ends with every photo
present exactly once (the README's "Kill-safe ingest" figures).

    python -m bench.ingest_kill [--variants 5] [--kill-after 40] [--workers 2]

The photos are ``bench.ingest.photo_folder``'s: ``--variants`` re-encodings of each of the 61
labelled test photos (5: 305 photos, each with its own content hash). The run goes into a fresh
domain of the bench database; its process group (the command and its workers) is SIGKILLed
``--kill-after`` seconds after it started, or as soon as a first photo has committed if that takes
longer. Then the command is run again, and a third time. Checked after the rerun: one row per photo
(distinct content hashes), none pending, one face per embedded photo and model, and the second
rerun changes nothing. Prints the figures as one JSON line; exits 1 when a check fails (or when the
run finished before it could be killed: lower ``--kill-after``). The domain is purged at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.env import ROOT, open_bench_database

_ALREADY = re.compile(r"(\d+) already present")


def _command(folder: Path, slug: str, workers: int) -> list[str]:
    return [sys.executable, "manage.py", "ingest_images", str(folder), "--domain", slug,
            "--workers", str(workers), "--no-progress"]


def _counts(slug: str) -> dict:
    from django.db.models import Count

    from gallery.models import FaceEmbedding, FacePhoto

    photos = FacePhoto.objects.filter(domain__slug=slug)
    faces = FaceEmbedding.objects.filter(domain__slug=slug)
    return {
        "photos": photos.count(),
        "distinct_photos": photos.values("content_hash").distinct().count(),
        "pending": photos.filter(status=FacePhoto.Status.PENDING).count(),
        "embedded": photos.filter(status=FacePhoto.Status.EMBEDDED).count(),
        "faces": faces.count(),
        "duplicate_faces": faces.values("photo_id", "model_name", "alignment").annotate(n=Count("id")).filter(n__gt=1).count(),
    }


def _killed_mid_run(command: list[str], slug: str, kill_after: float) -> float:
    """Start the command, SIGKILL its process group mid-run; returns when it was killed (s)."""
    from gallery.models import FacePhoto

    started = time.monotonic()
    run = subprocess.Popen(command, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    while time.monotonic() - started < kill_after or not FacePhoto.objects.filter(domain__slug=slug).exists():
        if run.poll() is not None:
            raise SystemExit(f"ingest_images ended before it was killed (exit {run.returncode}): lower --kill-after\n"
                             f"{run.stdout.read().decode()[-2000:]}")
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)  # the parent and its worker processes, mid-run
    run.wait()
    return time.monotonic() - started


def _rerun(command: list[str]) -> tuple[int, float]:
    """Run the command to its end; returns the photos it found already present and its wall time."""
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"the rerun failed ({result.returncode}): {result.stdout[-1000:]} {result.stderr[-2000:]}")
    match = _ALREADY.search(result.stdout)
    return (int(match.group(1)) if match else 0), time.monotonic() - started


def _purge(slug: str) -> None:
    from django.conf import settings

    from bench.galleries import domain_purge
    from gallery.models import Domain

    domain = Domain.objects.filter(slug=slug).first()
    if domain is not None:
        domain_purge(domain)
        shutil.rmtree(Path(settings.MEDIA_ROOT) / "faces" / str(domain.id), ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", type=int, default=5, help="Re-encodings of each of the 61 test photos (default 5: 305)")
    parser.add_argument("--kill-after", type=float, default=40, help="Seconds after the start to SIGKILL the run (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="ingest_images --workers (default 2)")
    args = parser.parse_args()

    open_bench_database()
    from bench.ingest import photo_folder

    folder, count = photo_folder(args.variants)
    slug = f"bench-ingest-kill-{int(time.time())}"
    command = _command(folder, slug, args.workers)
    try:
        killed_after_s = _killed_mid_run(command, slug, args.kill_after)
        time.sleep(1)  # the killed processes' connections end; their open transactions roll back
        at_kill = _counts(slug)
        already, rerun_s = _rerun(command)
        after = _counts(slug)
        already_second, _ = _rerun(command)
        after_second = _counts(slug)
    finally:
        _purge(slug)
    figures = {
        "photos": count, "workers": args.workers, "killed_after_s": round(killed_after_s, 1), "at_kill": at_kill,
        "rerun_already_present": already, "rerun_s": round(rerun_s, 1), "after_rerun": after,
        "second_rerun_already_present": already_second, "second_rerun_changed": after_second != after,
    }
    checks = {
        "killed mid-run": 0 < at_kill["photos"] < count,
        "the rerun skipped what the killed run committed": already == at_kill["photos"],
        "every photo exactly once": after["photos"] == after["distinct_photos"] == count,
        "none pending": after["pending"] == 0,
        "one face per embedded photo": after["faces"] == after["embedded"] and after["duplicate_faces"] == 0,
        "a second rerun changes nothing": already_second == count and after_second == after,
    }
    figures["failed"] = [name for name, ok in checks.items() if not ok]
    print(json.dumps(figures))
    sys.exit(1 if figures["failed"] else 0)


if __name__ == "__main__":
    main()
