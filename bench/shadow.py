"""Shadow mode's overhead: recognize over HTTP with the domain's legacy gallery file searched beside
pgvector, against the same recognize without it, on the 30k-face domain with a 30k-row pickle.

The pickle is a DeepFace ``representations_dlib.pkl`` (a list of ``{identity, hash, embedding,
target_*}`` dicts, float64 lists as DeepFace wrote them) of the domain's own synthetic vectors,
under ``person_NNNNNN/`` folders. The bench domain is on dlib's chip, which
``services.shadow_file_check`` refuses for a DeepFace file (a real one comes from DeepFace's crop),
so the bench sets the domain's shadow fields directly: what is measured is the cost of the shadow
side (a brute-force pass over 30k rows, the comparison, one stored row per face), which does not
depend on which crop the vectors came from. The switch is read per request, so on and off are
interleaved in one server process, and the setting is turned off again at the end.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np

from bench.env import work_dir


def pickle_write(vectors: np.ndarray, person_of: np.ndarray) -> Path:
    """The gallery as DeepFace's pickle (reused when it already holds exactly these vectors)."""
    path = work_dir() / f"shadow_{len(vectors)}" / "representations_dlib.pkl"
    marker = path.with_suffix(".complete")
    fingerprint = f"{vectors.shape}:{float(vectors[:100].sum()):.6f}"
    if marker.exists() and marker.read_text() == fingerprint and path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"identity": f"/legacy/db/person_{int(person):06d}/{i:07d}.jpg", "hash": f"{i:040x}",
         "embedding": vector.astype(np.float64).tolist(), "target_x": 0, "target_y": 0, "target_w": 100,
         "target_h": 100}
        for i, (vector, person) in enumerate(zip(vectors, person_of, strict=True))
    ]
    path.write_bytes(pickle.dumps(rows, protocol=4))
    marker.write_text(fingerprint)
    return path


def _set_shadow(domain, *, on: bool, path: Path) -> None:
    from gallery.models import Domain

    Domain.objects.filter(pk=domain.pk).update(shadow_enabled=on, shadow_file=str(path), shadow_answer_from="pgvector")


def in_process(path: Path, vectors: np.ndarray, *, queries: int = 200) -> dict:
    """Loading the file and one face's brute-force search, in this process."""
    from recognition.shadow import gallery_load

    started = time.perf_counter()
    legacy = gallery_load(path)
    load_s = time.perf_counter() - started
    rng = np.random.default_rng(0)
    search_ms = []
    for vector in vectors[rng.choice(len(vectors), size=queries, replace=False)]:
        started = time.perf_counter()
        legacy.nearest(vector, threshold=0.07, top=5)
        search_ms.append((time.perf_counter() - started) * 1000)
    return {
        "load_s": round(load_s, 2),
        "search_p50_ms": round(float(np.percentile(search_ms, 50)), 3),
        "search_p95_ms": round(float(np.percentile(search_ms, 95)), 3),
        "matrix_mb": round(legacy.nbytes / 1e6, 1),
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }


def bench_shadow(spec, domain, *, photo: Path, api_key: str, rounds: int, per_round: int, log=print) -> dict:
    from bench.server import Server
    from gallery.models import ShadowComparison

    gallery = spec.gallery()
    path = pickle_write(gallery.vectors, gallery.person_of)
    local = in_process(path, gallery.vectors)
    image = photo.read_bytes()
    off_ms, on_ms = [], []
    try:
        _set_shadow(domain, on=False, path=path)
        with Server(name="web-shadow") as server:
            server.start()
            for _ in range(5):
                server.recognize(api_key, image)
            rss_off = server.worker_rss_mb()
            _set_shadow(domain, on=True, path=path)
            first_ms, body = server.recognize(api_key, image)  # loads the pickle in the worker
            assert body["mode"] == "dual" and "comparison" in body["faces"][0], body
            rss_on = server.worker_rss_mb()
            for _ in range(rounds):  # interleaved, so that load on the machine weighs on both alike
                _set_shadow(domain, on=False, path=path)
                off_ms += [server.recognize(api_key, image)[0] for _ in range(per_round)]
                _set_shadow(domain, on=True, path=path)
                on_ms += [server.recognize(api_key, image)[0] for _ in range(per_round)]
    finally:
        _set_shadow(domain, on=False, path=path)
        ShadowComparison.objects.filter(domain=domain).delete()
    off_p50, on_p50 = float(np.percentile(off_ms, 50)), float(np.percentile(on_ms, 50))
    log(f"  shadow over {len(gallery.vectors):,} pickle rows: recognize p50 {on_p50:.1f} ms on vs {off_p50:.1f} ms off; "
        f"worker RSS +{rss_on - rss_off:.1f} MB; in process: load {local['load_s']} s, search p50 {local['search_p50_ms']} ms")
    return {
        "pickle_rows": len(gallery.vectors),
        "domain_faces": spec.n_faces,
        "p50_ms_on": round(on_p50, 1),
        "p50_ms_off": round(off_p50, 1),
        "p95_ms_on": round(float(np.percentile(on_ms, 95)), 1),
        "p95_ms_off": round(float(np.percentile(off_ms, 95)), 1),
        "overhead_p50_ms": round(on_p50 - off_p50, 1),
        "requests_each": len(on_ms),
        "first_request_on_ms": round(first_ms, 1),
        "worker_rss_mb_off": round(rss_off, 1),
        "worker_rss_mb_on": round(rss_on, 1),
        "worker_rss_growth_mb": round(rss_on - rss_off, 1),
        "in_process": local,
        "how": "POST /api/v1/recognize (gunicorn, 1 sync worker) on the 30k-face domain, shadow mode off and on "
        "in alternating rounds; the pickle is DeepFace's representations format of the same vectors",
    }
