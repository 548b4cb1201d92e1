"""deploy/backup.sh → wipe → deploy/restore.sh on a scratch database of the test PostgreSQL server,
driven like an operator would: manage.py commands and the two scripts, in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings

from tests.conftest import FACES, labels

ROOT = Path(__file__).resolve().parents[2]
PROBE_PHOTOS = ["img4.jpg", "img17.jpg", "couple.jpg"]


def _url_for(database: str) -> str:
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _admin(sql: str) -> None:
    with psycopg.connect(_url_for("postgres"), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def scratch(tmp_path):
    name = f"facerec_backup_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "facerec.settings",
        "DATABASE_URL": _url_for(name),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "FACEREC_WARM_MODELS": "false",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    yield name, env
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(command: list[str], env: dict, timeout: int = 600) -> str:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _manage(env: dict, *args: str) -> str:
    return _run([sys.executable, "manage.py", *args], env)


def _gallery_dir(tmp_path: Path) -> Path:
    """Two photos each of four identities, one folder per person (ingest_images' layout)."""
    people = {}
    for file, identity in labels().items():
        if identity in ("id01", "id02", "id03", "id04") and file not in PROBE_PHOTOS:
            people.setdefault(identity, [])
            if len(people[identity]) < 2:
                people[identity].append(file)
    root = tmp_path / "people"
    for identity, files in people.items():
        (root / f"Person {identity}").mkdir(parents=True)
        for file in files:
            shutil.copy(FACES / file, root / f"Person {identity}" / file)
    return root


def _probe(env: dict, key: str) -> dict:
    out = _run([sys.executable, "-m", "tests.ops.backup_probe", key, *(str(FACES / p) for p in PROBE_PHOTOS)], env)
    return json.loads(out.strip().splitlines()[-1])


def test_backup_wipe_restore_round_trip(scratch, tmp_path):
    name, env = scratch
    _manage(env, "migrate", "--no-input", "-v", "0")
    _manage(env, "ingest_images", str(_gallery_dir(tmp_path)), "--domain", "demo", "--no-progress")
    key = _manage(env, "create_api_key", "probe", "--domains", "demo").strip().splitlines()[-1]
    before = _probe(env, key)
    assert before["counts"]["FacePhoto"] == 8 and before["counts"]["FaceEmbedding"] == 8
    assert before["counts"]["Person"] == 4 and before["counts"]["ApiKey"] == 1
    assert len(before["files"]) == 8 and all(before["files"].values())
    face = before["recognize"]["img4.jpg"]["body"]["faces"][0]
    assert face["match"]["person"]["name"] == "Person id01"

    started = time.monotonic()
    backup = Path(_run(["deploy/backup.sh", str(tmp_path / "backup")], env).strip().splitlines()[-1])
    backup_s = time.monotonic() - started
    manifest = dict(line.split("=", 1) for line in (backup / "MANIFEST").read_text().splitlines())
    assert manifest["media_files"] == "8"

    # Wipe: an empty database of the same name, and no photos.
    _admin(f'DROP DATABASE "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    shutil.rmtree(env["MEDIA_ROOT"])
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0

    started = time.monotonic()
    _run(["deploy/restore.sh", str(backup)], env)
    restore_s = time.monotonic() - started

    after = _probe(env, key)
    assert after == before
    _manage(env, "migrate", "--check")  # the schema is at the latest migration, nothing to apply
    print(
        f"\nbackup/restore round trip: {before['counts']} ; db.dump {manifest['db_dump_bytes']} B, "
        f"media.tar {manifest['media_tar_bytes']} B ({manifest['media_files']} files); "
        f"backup {backup_s:.1f}s, restore {restore_s:.1f}s; img4.jpg -> {face['match']['person']['name']} at "
        f"distance {face['match']['distance']}, before and after; all answers identical: {after == before}"
    )


def test_restore_refuses_a_corrupted_backup(scratch, tmp_path):
    _, env = scratch
    backup = Path(_run(["deploy/backup.sh", str(tmp_path / "backup")], env).strip().splitlines()[-1])
    with open(backup / "db.dump", "ab") as handle:
        handle.write(b"tampered")

    done = subprocess.run(["deploy/restore.sh", str(backup)], cwd=ROOT, env=env, capture_output=True, text=True)

    assert done.returncode != 0
    assert "checksum mismatch" in done.stderr


def test_scripts_require_their_settings(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "MEDIA_ROOT")}
    done = subprocess.run(["deploy/backup.sh", str(tmp_path / "b")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "DATABASE_URL is not set" in done.stderr
