"""A task for tests/ops/test_celery_queues.py: sleeps, then appends its label to a file.

Loaded by the test's worker with ``--include tests.ops.celery_probe``."""

import time

from facerec.celery import app


@app.task(name="tests.ops.probe_work", acks_late=True)
def probe_work(label: str, seconds: float, log_path: str) -> None:
    time.sleep(seconds)
    with open(log_path, "a") as log:
        log.write(label + "\n")
