"""Throughput under concurrency: N clients, each sending single-face recognize requests back to
back, against gunicorn with the deploy config's own worker count, compared with what the cores
allow: ``cores x 1000 / floor_p50_ms`` requests per second (every core busy with nothing but the
floor's work, bench/floor.py)."""

from __future__ import annotations

import os
import threading
import time

import requests


def _client(url: str, key: str, image: bytes, deadline: float, done: list[int], errors: list[str]) -> None:
    with requests.Session() as session:
        while time.perf_counter() < deadline:
            response = session.post(
                f"{url}/api/v1/recognize",
                headers={"Authorization": f"Bearer {key}"},
                files={"image": ("photo.jpg", image, "image/jpeg")},
                timeout=60,
            )
            if response.status_code != 200:
                errors.append(f"{response.status_code}: {response.text[:200]}")
                return
            done.append(1)


def requests_per_second(url: str, key: str, image: bytes, *, clients: int, seconds: float) -> float:
    """Requests answered per second by ``clients`` concurrent clients over ``seconds``. A request
    still in flight at the deadline counts when it is answered, and the clock runs until then."""
    done: list[int] = []
    errors: list[str] = []
    started = time.perf_counter()
    threads = [
        threading.Thread(target=_client, args=(url, key, image, started + seconds, done, errors))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"recognize failed under {clients} clients: {errors[0]}")
    return len(done) / (time.perf_counter() - started)


def throughput_rows(url: str, key: str, image: bytes, *, floor_p50_ms: float, clients=(1, 2, 4), seconds: float) -> list[dict]:
    cores = os.cpu_count() or 1
    capacity = cores * 1000 / floor_p50_ms
    rows = []
    for count in clients:
        requests_per_second(url, key, image, clients=count, seconds=min(2.0, seconds))  # every worker busy once
        rate = requests_per_second(url, key, image, clients=count, seconds=seconds)
        rows.append(
            {
                "clients": count,
                "req_per_s": round(rate, 2),
                "capacity_req_per_s": round(capacity, 2),
                "efficiency": round(rate / capacity, 3),
            }
        )
    return rows
