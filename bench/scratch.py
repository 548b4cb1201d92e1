"""A throw-away facerec stack for load and fault runs: its own embedded PostgreSQL (in a scratch
var/ directory, so stopping it disturbs nothing else), real gunicorn and Celery processes.

It shares the development broker (on its own queue prefix) and the placed model weights.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from facerec import embedded

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


class ScratchStack:
    def __init__(self, var: Path, *, broker_url: str, deepface_home: Path):
        self.var = var
        self.env = {
            **os.environ,
            "FACEREC_VAR_DIR": str(var),
            "DEEPFACE_HOME": str(deepface_home),
            "CELERY_BROKER_URL": broker_url,
            "FACEREC_QUEUE_PREFIX": f"scratch-{uuid.uuid4().hex[:8]}-",
            "MEDIA_ROOT": str(var / "media"),
            "DB_CONN_MAX_AGE": "60",
        }
        self.env.pop("DATABASE_URL", None)
        self.processes: list[subprocess.Popen] = []
        self.base_url = ""

    def manage(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def start_web(self, workers: int = 2) -> str:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self._spawn([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "facerec.wsgi"],
                    PORT=str(port), WEB_CONCURRENCY=str(workers), WEB_PIDFILE=str(self.var / "web.pid"))
        wait_for(self._ready, 180, "/readyz to answer 200")
        return self.base_url

    def start_worker(self) -> None:
        prefix = self.env["FACEREC_QUEUE_PREFIX"]
        queues = ",".join(prefix + name for name in ("interactive", "bulk", "celery"))
        self._spawn([sys.executable, "-m", "celery", "-A", "facerec", "worker", "--pool", "solo", "-Q", queues,
                     "-l", "warning"])

    def web_worker_pids(self) -> list[int]:
        import psutil

        master = int((self.var / "web.pid").read_text())
        return [child.pid for child in psutil.Process(master).children()]

    def _spawn(self, command: list[str], **env: str) -> subprocess.Popen:
        log = open(self.var / f"process-{len(self.processes)}.log", "w")
        process = subprocess.Popen(command, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.base_url}/readyz", timeout=10).status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still warming up
            return False

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        try:
            embedded.postgres_stop(self.var)
        except Exception as exc:  # noqa: BLE001 - never hide the error that brought us here
            print(f"scratch stack: could not stop PostgreSQL in {self.var}: {exc}")

    def __enter__(self) -> ScratchStack:
        self.var.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
