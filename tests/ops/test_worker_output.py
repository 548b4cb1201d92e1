"""The Celery worker's own output (stdout/stderr), apart from its log records."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.3)


def test_worker_reports_a_traceback_as_written_not_one_line_per_character(tmp_path):
    """A Celery worker that crashes (as one did on shutdown with its broker gone) has the
    interpreter print the traceback to stderr, which writes the caret lines one character per
    call; Celery used to log every call as its own line."""
    log = tmp_path / "worker.log"
    prefix = f"test-{uuid.uuid4().hex[:8]}-"
    env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "FACEREC_QUEUE_PREFIX": prefix, "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "facerec", "worker", "--pool", "solo", "-Q", f"{prefix}bulk",
             "-l", "info", "--include", "tests.ops.traceback_probe"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for(lambda: "KeyError" in log.read_text(), 120, "the probe's traceback")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    text = log.read_text()

    assert "Traceback (most recent call last):" in text
    assert re.search(r"^ +~+\^+$", text, re.MULTILINE), text[-3000:]  # the caret line, whole
    assert not re.search(r"(^|\] )[~^]$", text, re.MULTILINE), text[-3000:]
