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

