"""Fault: PostgreSQL stops and restarts under a serving gunicorn. /readyz turns 503, requests get a
clean 503 with Retry-After (never a 500), and the service recovers by itself once the database is
back, with no process restarted (the same gunicorn master and workers serve before and after).

It runs on a scratch stack with its own embedded PostgreSQL, so stopping it disturbs nothing else."""

from __future__ import annotations

import shutil
import time

import pytest
import requests

from bench.scratch import ScratchStack, wait_for
from facerec import embedded
from tests.conftest import FACES

pytestmark = pytest.mark.slow


def test_service_answers_503_while_the_database_is_down_and_recovers(tmp_path, settings):
    photos = tmp_path / "photos" / "Angelina"
    photos.mkdir(parents=True)
    for name in ("img1.jpg", "img2.jpg"):
        shutil.copy(FACES / name, photos / name)
    with ScratchStack(tmp_path / "var", broker_url=settings.CELERY_BROKER_URL,
                      deepface_home=settings.DEEPFACE_HOME) as stack:
        stack.manage("migrate", "--verbosity", "0")
        stack.manage("ingest_images", str(photos.parent), "--domain", "demo", "--no-progress")
        key = stack.manage("create_api_key", "fault", "--domains", "demo").strip().splitlines()[-1]
        base = stack.start_web(workers=2)
        photo = (FACES / "img4.jpg").read_bytes()

        def recognize():
            return requests.post(f"{base}/api/v1/recognize", headers={"Authorization": f"Bearer {key}"},
                                 files={"image": ("img4.jpg", photo, "image/jpeg")}, timeout=30)

        assert recognize().json()["faces"][0]["match"]["person"]["name"] == "Angelina"
        master = int((stack.var / "web.pid").read_text())
        workers = sorted(stack.web_worker_pids())
        assert len(workers) == 2

        assert embedded.postgres_stop(stack.var)

        ready = requests.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] != "ok"
        answers = [recognize() for _ in range(4)]  # both workers, their persistent connections broken
        assert [answer.status_code for answer in answers] == [503] * 4
        assert {answer.json()["error"]["code"] for answer in answers} == {"database_unavailable"}
        assert [answer.headers.get("Retry-After") for answer in answers] == ["5"] * 4

        started = time.monotonic()
        embedded.postgres_url(stack.var)
        recovered = wait_for(lambda: (r := recognize()).status_code == 200 and r, 30, "recovery")
        print(f"recovered {time.monotonic() - started:.1f}s after the database restart began")
        assert recovered.json()["faces"][0]["match"]["person"]["name"] == "Angelina"
        assert requests.get(f"{base}/readyz", timeout=30).status_code == 200
        # No process restarted: the same master and the same two workers recovered by themselves.
        assert int((stack.var / "web.pid").read_text()) == master
        assert sorted(stack.web_worker_pids()) == workers
