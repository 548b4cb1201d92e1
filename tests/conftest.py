"""Shared personas: domain "alpha" and "beta", a read-write key for alpha, a key for beta and a
read-only key for alpha (healthchecks' alice/bob/charlie pattern), plus the test photos."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest
from rest_framework.test import APIClient

FACES = Path(__file__).parent / "data" / "faces"


def face_bytes(name: str) -> bytes:
    return (FACES / name).read_bytes()


def labels() -> dict[str, str]:
    with open(FACES / "labels.csv") as handle:
        return {row["file"]: row["identity"] for row in csv.DictReader(handle)}


def pairs() -> list[tuple[str, str, bool]]:
    with open(FACES / "pairs.csv") as handle:
        return [(row["file_x"], row["file_y"], row["Decision"] == "Yes") for row in csv.DictReader(handle)]


def pytest_unconfigure(config):
    """`make test` leaves no server behind: the embedded PostgreSQL and Valkey this session used stop
    once it is over (its test database already dropped), unless another process still uses them
    (`make run`, a manage.py command, another session), as a one-off command does (manage.py)."""
    from facerec import embedded

    stopped = embedded.release_all()
    if stopped:
        config.get_terminal_writer().line(f"stopped the embedded {' and '.join(stopped)}")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def celery_eager():
    """Celery tasks run in the test process when enqueued (they are enqueued on commit, so a test
    in a transaction sees them run inside ``django_capture_on_commit_callbacks(execute=True)``).
    The real-worker tests in tests/gallery/test_worker.py turn this off."""
    from facerec.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@dataclass
class Persona:
    key: str
    client: APIClient


def _client(secret: str | None) -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def alpha(db):
    from gallery.services import domain_create

    return domain_create(slug="alpha", name="Alpha")


@pytest.fixture
def beta(db):
    from gallery.services import domain_create

    return domain_create(slug="beta", name="Beta")


@pytest.fixture
def alice(alpha) -> Persona:
    """Read-write key for domain alpha."""
    from gallery.services import api_key_create

    _, secret = api_key_create(name="alice", domains=[alpha], can_write=True)
    return Persona(key=secret, client=_client(secret))


@pytest.fixture
def bob(beta) -> Persona:
    """Read-write key for domain beta only."""
    from gallery.services import api_key_create

    _, secret = api_key_create(name="bob", domains=[beta], can_write=True)
    return Persona(key=secret, client=_client(secret))


@pytest.fixture
def charlie(alpha) -> Persona:
    """Read-only key for domain alpha."""
    from gallery.services import api_key_create

    _, secret = api_key_create(name="charlie", domains=[alpha], can_write=False)
    return Persona(key=secret, client=_client(secret))


@pytest.fixture
def anonymous() -> APIClient:
    return _client(None)


def add_photos(domain, person_name: str, *files: str):
    from gallery.services import person_get_or_create, photo_add

    person, _ = person_get_or_create(domain=domain, name=person_name)
    for name in files:
        photo_add(person=person, data=face_bytes(name), source_name=name)
    return person
