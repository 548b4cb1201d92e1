"""Search reads go to DATABASE_REPLICA_URL's database when it is set; everything else to the primary.

The "replica" alias here is a second connection to the test database (as a streaming replica is
a second server with the same rows), added the way settings.py adds it.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections, router, transaction
from django.test.utils import CaptureQueriesContext

from facerec.routers import search_reads
from tests.conftest import add_photos, face_bytes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def replica_alias(django_db_setup, django_db_blocker):
    # Module-scoped so that the alias exists before pytest-django builds the test case that names it.
    from django.conf import settings

    replica = copy.deepcopy(connections["default"].settings_dict)
    replica["TEST"] = {**replica.get("TEST", {}), "MIRROR": "default"}
    settings.DATABASES["replica"] = replica
    yield
    with django_db_blocker.unblock():
        connections["replica"].close()
    del connections["replica"]
    del settings.DATABASES["replica"]


def _search_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "gallery_faceembedding" in q["sql"] and "<=>" in q["sql"]]


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_recognize_searches_on_the_replica():
    from gallery.services import domain_create
    from recognition import services

    domain = domain_create(slug="alpha", name="Alpha")
    add_photos(domain, "Angelina", "img1.jpg", "img2.jpg")

    with CaptureQueriesContext(connections["replica"]) as on_replica, \
            CaptureQueriesContext(connections["default"]) as on_primary:
        [result] = services.recognize(face_bytes("img4.jpg"), domain=domain).faces

    assert result.match.person.name == "Angelina"
    assert len(_search_queries(on_replica)) == 1  # the nearest faces, their persons and centroids: one statement
    assert _search_queries(on_primary) == []
    # The persons it found are confirmed on the primary: a replica that lags never names a removed one.
    assert any('FROM "gallery_person"' in q["sql"] for q in on_primary.captured_queries)
    assert not any('FROM "gallery_person"' in q["sql"] for q in on_replica.captured_queries)


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_only_search_reads_leave_the_primary():
    from gallery.models import ApiKey, FaceEmbedding, Person

    assert router.db_for_read(Person) == "default"  # the admin, the persons API: read-your-writes
    with search_reads():
        assert router.db_for_read(FaceEmbedding) == "replica"
        assert router.db_for_read(Person) == "default"  # confirmed on the primary (recognition.services)
        assert router.db_for_read(ApiKey) == "default"
        assert router.db_for_write(FaceEmbedding) == "default"
        with transaction.atomic():
            # Writing and searching in one transaction must see its own writes.
            assert router.db_for_read(FaceEmbedding) == "default"
    assert router.allow_migrate("replica", "gallery") is False
    assert router.allow_migrate("default", "gallery") is True


def test_settings_add_the_replica_only_when_configured():
    code = (
        "import django; django.setup(); from django.conf import settings; from django.db import router; "
        "from facerec.routers import search_reads; from gallery.models import FaceEmbedding\n"
        "with search_reads(): print(sorted(settings.DATABASES), router.db_for_read(FaceEmbedding))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "facerec.settings"}
    env.pop("DATABASE_REPLICA_URL", None)
    without = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    env["DATABASE_REPLICA_URL"] = "postgres://reader@replica.internal:5432/facerec"
    with_replica = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=120)

    assert without.stdout.strip() == "['default'] default", without.stderr[-2000:]
    assert with_replica.stdout.strip() == "['default', 'replica'] replica", with_replica.stderr[-2000:]
