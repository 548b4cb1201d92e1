"""`make run` / `make stop`, and how long the embedded PostgreSQL and Valkey live: nothing that a
command started is left running once nobody uses it.

Every test here runs on one scratch var/ directory (its own PostgreSQL and Valkey, started and
stopped by the commands under test), so stopping it disturbs nothing else. A test that fails
kills what it started; the module's teardown stops the scratch servers.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
from django.conf import settings

from facerec import embedded
from facerec.stack import process_alive

ROOT = Path(__file__).resolve().parents[2]
# Inherited settings that would point the scratch stack at this session's servers or files.
_NOT_INHERITED = {"DATABASE_URL", "CELERY_BROKER_URL", "XDG_RUNTIME_DIR", "PROMETHEUS_MULTIPROC_DIR", "PORT",
                  "MEDIA_ROOT", "STATIC_ROOT", "PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS", "MAKEFLAGS", "MFLAGS"}


@pytest.fixture(scope="module")
def scratch() -> Path:
    # Not under pytest's tmp_path: as root, PostgreSQL runs as another user that must traverse the
    # folders above its data, and every pytest session closes /tmp/pytest-of-root again (0700).
    top = Path(tempfile.mkdtemp(prefix="facerec-stack-"))
    yield top / "var"
    embedded.stop_all(top / "var")
    shutil.rmtree(top, ignore_errors=True)


def scratch_env(var: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}
    env.update(FACEREC_VAR_DIR=str(var), DEEPFACE_HOME=str(settings.DEEPFACE_HOME), PYTHONUNBUFFERED="1",
               DJANGO_SETTINGS_MODULE="facerec.settings", **extra)
    return env


def manage(var: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=scratch_env(var), capture_output=True,
                          text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.3)


# --- what runs for a var/ directory, read from the servers' own pid files -----------------------


def postgres_process(var: Path) -> psutil.Process | None:
    return _alive_from_pidfile(var / "pgdata" / "postmaster.pid")


def valkey_process(var: Path) -> psutil.Process | None:
    return _alive_from_pidfile(var / "valkey" / "valkey.pid")


def _alive_from_pidfile(path: Path) -> psutil.Process | None:
    try:
        process = psutil.Process(int(path.read_text().split()[0]))
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
        return None
    return process if process_alive(process) else None


def servers_running(var: Path) -> list[str]:
    return [name for name, process in (("postgresql", postgres_process(var)), ("valkey", valkey_process(var))) if process]


def postgres_starts(var: Path) -> int:
    """How many times the scratch PostgreSQL has started (its log says so each time)."""
    log = var / "pgdata" / "log"
    return log.read_text(errors="replace").count("ready to accept connections") if log.exists() else 0


class Output:
    """The lines a child process prints, collected by a thread while the test goes on."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def index(self, pattern: str) -> int:
        return next((i for i, line in enumerate(self.lines) if re.search(pattern, line)), -1)

    def join(self) -> None:
        self._thread.join(timeout=10)


def readyz(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
    except requests.RequestException:  # refused, or waiting in the backlog while workers warm up
        return False


def port_is_free(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def kill_leftovers(run: subprocess.Popen, processes: list[psutil.Process]) -> None:
    """After a failure: kill what the command started (its descendants, in their own groups too)."""
    if run.poll() is None:
        processes = processes + psutil.Process(run.pid).children(recursive=True)
        run.kill()
    for process in processes:
        if process and process_alive(process):
            process.kill()


# --- make run / make stop --------------------------------------------------------------------


def test_make_stop_stops_everything_make_run_started_quietly(scratch):
    port = free_port()
    run = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=scratch_env(scratch, PORT=str(port)),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = Output(run.stdout)
    processes: list[psutil.Process] = []
    try:
        wait_for(lambda: run.poll() is None and readyz(port) and output.index("facerec is ready") >= 0, 300,
                 f"make run to be ready; it printed:\n{output.text()[-3000:]}")
        processes = psutil.Process(run.pid).children(recursive=True) + [postgres_process(scratch), valkey_process(scratch)]
        commands = [" ".join(process.cmdline()) for process in processes if process]
        assert [c for c in commands if "run_stack" in c] and [c for c in commands if "celery" in c]
        assert len([c for c in commands if "gunicorn" in c]) == 3  # the master and its 2 workers
        assert all(processes), commands  # and both servers of the scratch var/
        second = manage(scratch, "run_stack", "--port", str(free_port()))
        assert second.returncode == 1 and "make run is already running" in second.stderr, second.stderr

        started = time.monotonic()
        stop = subprocess.run(["make", "--no-print-directory", "stop"], cwd=ROOT, env=scratch_env(scratch),
                              capture_output=True, text=True, timeout=300)
        took = time.monotonic() - started
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert run.wait(timeout=60) == 0, output.text()[-3000:]
    finally:
        kill_leftovers(run, processes)
    output.join()
    print(f"make stop took {took:.1f}s:\n{stop.stdout}")

    assert [" ".join(p.cmdline()) for p in processes if process_alive(p)] == []
    assert port_is_free(port)
    assert servers_running(scratch) == []
    assert not (scratch / "pgdata" / "postmaster.pid").exists()
    assert re.search(r"stopped .*web.*worker.*valkey.*postgresql", stop.stdout), stop.stdout
    # Web and worker stop before the broker and the database: no worker traceback on the way out.
    assert "Traceback" not in output.text(), output.text()[-5000:]
    # The login and next steps come last, after the worker's banner and the web workers' warm-up,
    # and not after a list of every model, detector and domain.
    summary = output.index("facerec is ready")
    assert 0 <= output.index(r"@\S+ ready\.") < summary
    assert 0 <= output.index("face models warmed") < summary
    assert re.search(r"login +admin / \S+", output.text())
    assert output.index("models usable") == -1 and output.index(r"^model +") == -1


def test_make_stop_ends_web_and_worker_left_by_a_killed_run_stack(scratch):
    port = free_port()
    run = subprocess.Popen([sys.executable, "manage.py", "run_stack", "--port", str(port), "--web-workers", "1"],
                           cwd=ROOT, env=scratch_env(scratch), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, start_new_session=True)
    output = Output(run.stdout)
    orphans: list[psutil.Process] = []
    try:
        wait_for(lambda: run.poll() is None and output.index("facerec is ready") >= 0, 300,
                 f"run_stack to be ready; it printed:\n{output.text()[-3000:]}")
        orphans = psutil.Process(run.pid).children(recursive=True)
        run.kill()  # run_stack alone: its web and worker, in their own process groups, live on
        run.wait(timeout=30)
        assert readyz(port)

        stop = manage(scratch, "stop_stack")
        assert stop.returncode == 0, stop.stderr
    finally:
        kill_leftovers(run, orphans)

    assert [" ".join(p.cmdline()) for p in orphans if process_alive(p)] == []
    assert port_is_free(port)
    assert servers_running(scratch) == []


# --- one-off commands and test sessions --------------------------------------------------------

# A process that uses the servers and is not a manage.py command (a Python shell, a gunicorn run
# by hand): it holds them until its stdin closes.
HOLDER = "import django, sys; django.setup(); print('using them', flush=True); sys.stdin.read()"


def test_one_off_command_stops_the_servers_it_started_unless_another_process_uses_them(scratch):
    assert servers_running(scratch) == []
    starts = postgres_starts(scratch)
    began = time.monotonic()
    alone = manage(scratch, "check")
    alone_took = time.monotonic() - began
    assert alone.returncode == 0, alone.stderr
    assert postgres_starts(scratch) == starts + 1  # it had to start them...
    assert servers_running(scratch) == []  # ...and stopped them as it ended

    holder = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=ROOT, env=scratch_env(scratch), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "using them"
        began = time.monotonic()
        beside = manage(scratch, "check")
        beside_took = time.monotonic() - began
        assert beside.returncode == 0, beside.stderr
        assert servers_running(scratch) == ["postgresql", "valkey"]  # still in use: left running
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # The holder ended without stopping them; the next one-off command that finds nobody using
    # them stops them.
    assert servers_running(scratch) == ["postgresql", "valkey"]
    assert manage(scratch, "check").returncode == 0
    assert servers_running(scratch) == []
    print(f"manage.py check: {alone_took:.2f}s starting and stopping the servers, {beside_took:.2f}s reusing them")


def test_make_stop_with_nothing_running_starts_nothing(scratch):
    assert servers_running(scratch) == []
    starts = postgres_starts(scratch)

    stop = manage(scratch, "stop_stack")

    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.strip() == "nothing was running"
    assert postgres_starts(scratch) == starts and servers_running(scratch) == []


def test_make_test_leaves_no_server_running(scratch):
    assert servers_running(scratch) == []
    starts = postgres_starts(scratch)
    selection = "tests/ops/test_deploy.py::test_env_example_lists_every_setting"

    done = subprocess.run(["make", "--no-print-directory", "test", f"PYTEST_ARGS=-q -p no:cacheprovider {selection}"],
                          cwd=ROOT, env=scratch_env(scratch), capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout
    assert postgres_starts(scratch) > starts
    assert servers_running(scratch) == []
