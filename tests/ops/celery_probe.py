"""A task for tests/ops/test_celery_queues.py: sleeps, then appends its label and the request id
it runs under (facerec/logging.py) to a file.

Loaded by the test's worker with ``--include tests.ops.celery_probe``."""

import time

from facerec.celery import app
from facerec.logging import current_request_id


@app.task(name="tests.ops.probe_work", acks_late=True)
def probe_work(label: str, seconds: float, log_path: str) -> None:
    time.sleep(seconds)
    with open(log_path, "a") as log:
        log.write(f"{label} {current_request_id()}\n")
