"""The real server under test: gunicorn with deploy/gunicorn.conf.py, driven over HTTP."""

from __future__ import annotations

import compileall
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench.env import ROOT, work_dir

# The project's packages (the Makefile's PACKAGES), compiled before a start as a deployment does
# (`make install`): the figures are those of a deployed server, whatever PYTHONDONTWRITEBYTECODE says.
PACKAGES = ("facerec", "faces", "gallery", "recognition")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``gunicorn -c deploy/gunicorn.conf.py facerec.wsgi`` with ``workers`` sync workers (None:
    the deploy config's own number)."""

    def __init__(self, *, workers: int | None = 1, name: str = "web"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path: Path = work_dir() / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.session = requests.Session()

    def start(self, *, timeout: float = 180) -> float:
        """Start the server; returns the seconds from process start until /readyz answers 200."""
        env = {
            **os.environ,
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_MAX_REQUESTS": "1000000",  # no recycling in the middle of a measurement
            "LOG_LEVEL": "warning",
            "API_THROTTLE_RATE": os.environ.get("API_THROTTLE_RATE", "1000000/minute"),
        }
        if self.workers is not None:
            env["WEB_CONCURRENCY"] = str(self.workers)
        else:
            env.pop("WEB_CONCURRENCY", None)
        for package in PACKAGES:
            compileall.compile_dir(ROOT / package, quiet=1)
        log = open(self.log_path, "w")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "facerec.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return time.perf_counter() - started
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server was not ready within {timeout}s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def worker_rss_mb(self) -> float:
        """Resident memory of the (single) worker, in MB."""
        total = 0
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def workers_load(self, library: str) -> bool:
        """Whether any worker has a shared library whose path contains ``library`` mapped
        (e.g. "tensorflow": a worker that imported TensorFlow)."""
        return any(library in Path(f"/proc/{pid}/maps").read_text() for pid in self.worker_pids())

    def recognize(self, key: str, image: bytes, **fields) -> tuple[float, dict]:
        """One POST /api/v1/recognize; returns (milliseconds, JSON body)."""
        started = time.perf_counter()
        response = self.session.post(
            f"{self.url}/api/v1/recognize",
            headers={"Authorization": f"Bearer {key}"},
            files={"image": ("photo.jpg", image, "image/jpeg")},
            data={key: str(value) for key, value in fields.items()},
            timeout=60,
        )
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"recognize answered {response.status_code}: {response.text[:300]}")
        return elapsed, response.json()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.session.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
