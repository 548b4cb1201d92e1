"""Ingest throughput: ``manage.py ingest_images`` as an operator runs it, 1 process vs N workers.

The photos are the labelled test photos, each re-encoded at a few JPEG qualities so that every
file has its own content hash (ingest skips a picture already in the domain). Every run goes into
a fresh domain. The figure is the command's own summary (photos embedded per second of its run,
model loading included, as the operator sees it).
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.env import ROOT, work_dir

PHOTOS = ROOT / "tests" / "data" / "faces"
_RATE = re.compile(r"\(([\d.]+) photos/s\)")


def photo_folder(variants: int) -> tuple[Path, int]:
    """One folder per person, ``variants`` distinct encodings of each labelled photo."""
    from PIL import Image

    root = work_dir() / f"ingest_photos_{variants}"
    with open(PHOTOS / "labels.csv") as handle:
        labels = [(row["file"], row["identity"]) for row in csv.DictReader(handle)]
    count = len(labels) * variants
    if root.is_dir() and sum(1 for _ in root.rglob("*.jpg")) == count:
        return root, count
    for file, identity in labels:
        image = Image.open(PHOTOS / file).convert("RGB")
        (root / identity).mkdir(parents=True, exist_ok=True)
        for variant in range(variants):
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=92 - variant)
            (root / identity / f"{Path(file).stem}_q{92 - variant}.jpg").write_bytes(buffer.getvalue())
    return root, count


def ingest_rate(folder: Path, *, workers: int) -> tuple[float, float]:
    """Run the command into a fresh domain; returns (photos/s it reports, wall seconds)."""
    slug = f"bench-ingest-w{workers}-{int(time.time())}"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest_images", str(folder), "--domain", slug,
         "--workers", str(workers), "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    wall = time.perf_counter() - started
    match = _RATE.search(result.stdout)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"ingest_images failed ({result.returncode}): {result.stdout[-500:]} {result.stderr[-1000:]}")
    _purge(slug)
    return float(match.group(1)), wall


def _purge(slug: str) -> None:
    from bench.galleries import domain_purge
    from gallery.models import Domain

    domain = Domain.objects.filter(slug=slug).first()
    if domain is not None:
        domain_purge(domain)
