"""Helpers for gallery tests that run real subprocesses (ingest, Celery worker) against the test
database: they get its URL, the test's media root and the same broker."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import FACES, labels

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """The URL of the database this test uses (the test database, not the development one)."""
    from django.conf import settings
    from django.db import connection

    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def subprocess_env(**extra: str) -> dict[str, str]:
    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "FACEREC_QUEUE_PREFIX": settings.FACEREC_QUEUE_PREFIX,
        "DB_CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


def manage(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), *args]


def photo_tree(root: Path, files: list[str]) -> Path:
    """One folder per identity of labels.csv holding the given test photos."""
    identities = labels()
    for name in files:
        folder = root / f"Person {identities[name]}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FACES / name, folder / name)
    return root


@pytest.fixture
def labelled_files() -> list[str]:
    return sorted(labels())
