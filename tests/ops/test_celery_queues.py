"""Celery routing: bulk work cannot starve the embedding a client waits for."""

from __future__ import annotations

import pytest

from facerec.celery import app


def _queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("gallery.embed_photo", "interactive"),
        ("gallery.embed_batch", "bulk"),
        ("gallery.reembed_domain", "bulk"),
        ("gallery.delete_files", "bulk"),
        ("gallery.cluster_faces", "bulk"),
        ("gallery.ingest_bulk_folder", "bulk"),  # a future bulk task, routed by its name
        ("facerec.something_else", "celery"),
    ],
)
def test_tasks_are_routed_by_name(task_name, queue, settings):
    assert _queue(task_name) == f"{settings.FACEREC_QUEUE_PREFIX}{queue}"


def test_routes_agree_with_the_queues_gallery_dispatches_to():
    """gallery.tasks.dispatch names its queue explicitly; a plain .delay() must land in the same one."""
    from gallery import tasks

    for task, queue in tasks._BY_KIND.values():
        assert _queue(task.name) == tasks.queue_name(queue), task.name



def test_interactive_task_is_not_starved_by_a_bulk_backlog(tmp_path, celery_eager):
    """One worker process consuming both queues, with a backlog of bulk tasks queued first: the
    interactive task queued last runs after at most a couple of them, not after the whole backlog
    (prefetch 1, late acks, and the broker polling the queues in turn)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import uuid
    from pathlib import Path

    from tests.ops.celery_probe import probe_work

    celery_eager.conf.task_always_eager = False  # through the real broker, to a real worker
    root = Path(__file__).resolve().parents[2]
    prefix = f"test-{uuid.uuid4().hex[:8]}-"
    log = tmp_path / "order.log"
    for number in range(10):
        probe_work.apply_async(args=[f"bulk-{number}", 0.3, str(log)], queue=f"{prefix}bulk")
    from facerec.logging import _request_id

    token = _request_id.set("req-queued-by-web")  # as if a web request enqueued it
    try:
        probe_work.apply_async(args=["interactive", 0.0, str(log)], queue=f"{prefix}interactive")
    finally:
        _request_id.reset(token)

    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "facerec", "worker", "--include", "tests.ops.celery_probe",
         "--concurrency", "1", "-Q", f"{prefix}interactive,{prefix}bulk", "-l", "warning"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        def done() -> bool:  # the interactive task and at least one bulk task have run
            return log.exists() and "interactive" in log.read_text() and len(log.read_text().splitlines()) >= 2

        while time.monotonic() < deadline and not done():
            time.sleep(0.2)
        lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
        order = [label for label, _ in lines]
        request_ids = dict(lines)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        from facerec.celery import app

        with app.connection_for_write() as conn:  # drop what is left of this test's queues
            for queue in ("interactive", "bulk"):
                conn.default_channel.queue_purge(f"{prefix}{queue}")
    print(f"\nexecution order with a 10-task bulk backlog: {order}")
    assert "interactive" in order, order
    assert order.index("interactive") <= 2, order
    # The request id travelled with the task into the worker's logs.
    assert request_ids["interactive"] == "req-queued-by-web"
    assert all(request_ids[label].startswith("task-") for label in order if label != "interactive")
