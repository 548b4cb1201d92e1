"""Fault: PostgreSQL stops and restarts under a serving gunicorn. /readyz turns 503, requests get a
clean 503 (never a 500), and the service recovers by itself once the database is back.

It runs against its own embedded PostgreSQL (a scratch var/ directory), so stopping it disturbs
nothing else."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from facerec import embedded
from tests.conftest import FACES

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _get(url: str, **kwargs):
    try:
        return requests.request(kwargs.pop("method", "GET"), url, timeout=30, **kwargs)
    except requests.ConnectionError:
        return None


@pytest.fixture
def scratch_stack(tmp_path, settings):
    var = tmp_path / "var"
    env = {
        **os.environ,
        "FACEREC_VAR_DIR": str(var),
        "DEEPFACE_HOME": str(settings.DEEPFACE_HOME),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DB_CONN_MAX_AGE": "60",  # persistent connections must survive the restart too
    }
    env.pop("DATABASE_URL", None)
    yield var, env
    embedded.postgres_stop(var)


def _manage(env, *args) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_service_answers_503_while_the_database_is_down_and_recovers(scratch_stack, tmp_path):
    var, env = scratch_stack
    photos = tmp_path / "photos" / "Angelina"
    photos.mkdir(parents=True)
    for name in ("img1.jpg", "img2.jpg"):
        shutil.copy(FACES / name, photos / name)
    _manage(env, "migrate", "--verbosity", "0")
    _manage(env, "ingest_images", str(photos.parent), "--domain", "demo", "--no-progress")
    key = _manage(env, "create_api_key", "fault", "--domains", "demo").strip().splitlines()[-1]

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "facerec.wsgi"],
        cwd=ROOT, env={**env, "PORT": str(port), "WEB_CONCURRENCY": "2"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    photo = (FACES / "img4.jpg").read_bytes()

    def recognize():
        return _get(f"{base}/api/v1/recognize", method="POST", headers={"Authorization": f"Bearer {key}"},
                    files={"image": ("img4.jpg", photo, "image/jpeg")})

    try:
        _wait_for(lambda: (r := _get(f"{base}/readyz")) is not None and r.status_code == 200, 120, "readyz 200")
        assert recognize().json()["faces"][0]["match"]["person"]["name"] == "Angelina"

        assert embedded.postgres_stop(var)

        ready = _get(f"{base}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] != "ok"
        statuses = []
        for _ in range(4):  # both workers, with their persistent connections now broken
            response = recognize()
            statuses.append(response.status_code)
            assert response.json()["error"]["code"] == "database_unavailable"
        assert statuses == [503] * 4

        started = time.monotonic()
        embedded.postgres_url(var)
        recovered = _wait_for(lambda: (r := recognize()) is not None and r.status_code == 200 and r, 30, "recovery")
        print(f"recovered {time.monotonic() - started:.1f}s after the database restart began")
        assert recovered.json()["faces"][0]["match"]["person"]["name"] == "Angelina"
        assert _get(f"{base}/readyz").status_code == 200
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=60)
