"""A short load run (the long one is `make soak`): real gunicorn with 2 workers, 4 concurrent
clients mixing recognize / add photo / remove person: no errors, no removed person ever returned
after its removal committed, worker memory stable."""

import pytest

from bench.load import prepare_stack, run_load
from bench.scratch import ScratchStack

pytestmark = pytest.mark.slow


def test_mixed_load_has_no_errors_and_no_stale_answers(tmp_path, settings):
    with ScratchStack(tmp_path / "var", broker_url=settings.CELERY_BROKER_URL,
                      deepface_home=settings.DEEPFACE_HOME) as stack:
        stack.env["API_THROTTLE_RATE"] = "100000/min"
        base_url, key = prepare_stack(stack, photos=24, web_workers=2)
        report = run_load(base_url=base_url, key=key, domain="load", clients=4, duration=20,
                          worker_pids=stack.web_worker_pids())

    print(report)
    assert report.errors == []
    assert report.stale_removed == 0
    assert report.requests >= 40
    assert {"recognize", "add_photo", "remove_person"} <= set(report.by_kind)
    assert report.rss_growth_mb <= 50
