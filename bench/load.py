"""Load run: concurrent clients send a mix of recognize / add photo / remove person to a real
gunicorn for a bounded time, and we count errors, stale answers and worker memory.

- errors: any answer other than the expected status, or a failed connection;
- stale: a recognize that returned a person whose removal had committed (its DELETE answered 204)
  before the recognize was sent — must be 0;
- RSS: each web worker's resident memory after warm-up and at the end.

``python -m bench.load [--clients 8] [--duration 120]`` (``make soak``) runs it on a scratch stack
and writes ``bench/results/load.json``; tests/security/test_load.py runs a short version.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT / "tests" / "data" / "faces"
MAX_ITERATIONS_PER_CLIENT = 20_000  # a hard bound besides the duration


@dataclass
class LoadReport:
    clients: int
    duration_s: float
    requests: int = 0
    by_kind: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    stale_removed: int = 0
    recognize_p50_ms: float = 0.0
    recognize_p95_ms: float = 0.0
    requests_per_s: float = 0.0
    rss_mb_start: dict = field(default_factory=dict)  # after the model warm-up, before any request
    rss_mb_warm: dict = field(default_factory=dict)  # after the first quarter of the run
    rss_mb_end: dict = field(default_factory=dict)

    @property
    def rss_growth_mb(self) -> float:
        """The largest growth of one worker from the end of the first quarter to the end: the first
        requests grow every process once (allocator arenas, buffers of a photo's size); a leak
        keeps growing after that."""
        common = set(self.rss_mb_warm) & set(self.rss_mb_end)
        return round(max((self.rss_mb_end[pid] - self.rss_mb_warm[pid] for pid in common), default=0.0), 1)


def unique_copy(jpeg: bytes, rng: random.Random) -> bytes:
    """The same pixels with a random JPEG comment: a new content hash, so the gallery stores it anew."""
    comment = rng.randbytes(16).hex().encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def rss_mb(pids: list[int]) -> dict[str, float]:
    import psutil

    sizes = {}
    for pid in pids:
        try:
            sizes[str(pid)] = round(psutil.Process(pid).memory_info().rss / 2**20, 1)
        except psutil.NoSuchProcess:
            pass
    return sizes


class _Client(threading.Thread):
    def __init__(self, index: int, run: _Run):
        super().__init__(daemon=True)
        self.index, self.run_state = index, run
        self.rng = random.Random(index)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {run.key}"
        self.persons: list[int] = []

    def run(self) -> None:
        state = self.run_state
        for _ in range(MAX_ITERATIONS_PER_CLIENT):
            if time.monotonic() >= state.deadline:
                return
            roll = self.rng.random()
            if roll < 0.6:
                self._recognize()
            elif roll < 0.85 or not self.persons:
                self._add()
            else:
                self._remove()

    def _call(self, kind: str, expected: int, method: str, path: str, **kwargs):
        started = time.monotonic()
        try:
            response = self.session.request(method, self.run_state.base_url + path, timeout=60, **kwargs)
        except requests.RequestException as exc:
            self.run_state.record(kind, started, error=f"{kind}: {exc.__class__.__name__}: {exc}")
            return None
        error = None if response.status_code == expected else f"{kind}: {response.status_code} {response.text[:200]}"
        self.run_state.record(kind, started, error=error)
        return response if error is None else None

    def _recognize(self) -> None:
        name = self.rng.choice(self.run_state.photo_names)
        sent = time.monotonic()
        response = self._call("recognize", 200, "POST", "/api/v1/recognize",
                              data={"domain": self.run_state.domain, "top_k": "10"},
                              files={"image": (name, self.run_state.photos[name], "image/jpeg")})
        if response is not None:
            returned = {c["person"]["id"] for face in response.json()["faces"] for c in face["candidates"]}
            self.run_state.check_stale(returned, sent)

    def _add(self) -> None:
        domain = self.run_state.domain
        person = self._call("add_person", 201, "POST", f"/api/v1/domains/{domain}/persons",
                            json={"name": f"load {self.index}-{self.rng.randrange(10**9)}"})
        if person is None:
            return
        person_id = person.json()["id"]
        name = self.rng.choice(self.run_state.photo_names)
        photo = unique_copy(self.run_state.photos[name], self.rng)
        if self._call("add_photo", 201, "POST", f"/api/v1/domains/{domain}/persons/{person_id}/images?wait=1",
                      files={"image": (name, photo, "image/jpeg")}) is not None:
            self.persons.append(person_id)

    def _remove(self) -> None:
        person_id = self.persons.pop(self.rng.randrange(len(self.persons)))
        if self._call("remove_person", 204, "DELETE", f"/api/v1/domains/{self.run_state.domain}/persons/{person_id}"):
            self.run_state.removed(person_id)


class _Run:
    def __init__(self, base_url: str, key: str, domain: str, photos: dict[str, bytes], duration: float):
        self.base_url, self.key, self.domain, self.photos = base_url, key, domain, photos
        self.photo_names = sorted(photos)
        self.deadline = time.monotonic() + duration
        self.lock = threading.Lock()
        self.kinds: Counter = Counter()
        self.errors: list[str] = []
        self.latencies: list[float] = []
        self.removed_at: dict[int, float] = {}
        self.stale = 0

    def record(self, kind: str, started: float, *, error: str | None) -> None:
        elapsed = (time.monotonic() - started) * 1000
        with self.lock:
            self.kinds[kind] += 1
            if error:
                self.errors.append(error)
            elif kind == "recognize":
                self.latencies.append(elapsed)

    def removed(self, person_id: int) -> None:
        with self.lock:
            self.removed_at[person_id] = time.monotonic()

    def check_stale(self, returned: set[int], sent: float) -> None:
        with self.lock:
            self.stale += sum(1 for pid in returned if self.removed_at.get(pid, float("inf")) < sent)


def run_load(*, base_url: str, key: str, domain: str, clients: int, duration: float,
             worker_pids: list[int]) -> LoadReport:
    photos = {path.name: path.read_bytes() for path in sorted(FACES.glob("img*.jpg"))}
    run = _Run(base_url, key, domain, photos, duration)
    report = LoadReport(clients=clients, duration_s=duration, rss_mb_start=rss_mb(worker_pids))
    started = time.monotonic()
    threads = [_Client(index, run) for index in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(duration / 4)
    report.rss_mb_warm = rss_mb(worker_pids)
    for thread in threads:
        thread.join(timeout=duration + 120)
    elapsed = time.monotonic() - started
    report.rss_mb_end = rss_mb(worker_pids)
    report.requests = sum(run.kinds.values())
    report.by_kind = dict(run.kinds)
    report.errors = run.errors[:50]
    report.stale_removed = run.stale
    report.requests_per_s = round(report.requests / elapsed, 1)
    if run.latencies:
        report.recognize_p50_ms = round(statistics.median(run.latencies), 1)
        report.recognize_p95_ms = round(statistics.quantiles(run.latencies, n=20)[-1], 1)
    return report


def prepare_stack(stack, *, photos: int = 61, web_workers: int = 3) -> tuple[str, str]:
    """Migrate, ingest the test photos into domain "load", start web + worker; returns (url, key)."""
    with open(FACES / "labels.csv") as handle:
        labelled = sorted((row["file"], row["identity"]) for row in csv.DictReader(handle))
    gallery = stack.var / "gallery"
    for file, identity in labelled[:photos]:
        (gallery / identity).mkdir(parents=True, exist_ok=True)
        shutil.copy(FACES / file, gallery / identity / file)
    stack.manage("migrate", "--verbosity", "0")
    stack.manage("ingest_images", str(gallery), "--domain", "load", "--no-progress")
    key = stack.manage("create_api_key", "load", "--domains", "load", "--write").strip().splitlines()[-1]
    stack.start_worker()
    return stack.start_web(workers=web_workers), key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--duration", type=float, default=120, help="seconds of load (default 120)")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers (default 3)")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facerec.settings")
    import django

    django.setup()
    from django.conf import settings

    from bench.scratch import ScratchStack

    var = Path(settings.VAR_DIR) / "soak"
    shutil.rmtree(var, ignore_errors=True)
    with ScratchStack(var, broker_url=settings.CELERY_BROKER_URL, deepface_home=settings.DEEPFACE_HOME) as stack:
        stack.env["API_THROTTLE_RATE"] = "100000/min"
        base_url, key = prepare_stack(stack, web_workers=args.web_workers)
        report = run_load(base_url=base_url, key=key, domain="load", clients=args.clients, duration=args.duration,
                          worker_pids=stack.web_worker_pids())
    result = {**asdict(report), "rss_growth_mb": report.rss_growth_mb, "web_workers": args.web_workers}
    out = ROOT / "bench" / "results" / "load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = not report.errors and report.stale_removed == 0 and report.rss_growth_mb <= 50
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
