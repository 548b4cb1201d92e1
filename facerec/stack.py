"""The processes of `make run`, recorded so that `make stop` in another shell can end them.

``run_stack`` writes ``var/run/stack.json``: its own pid and that of each child it started (the
Celery worker and gunicorn, each the leader of its own process group), with their start times so
that a recycled pid is never taken for one of them. ``stop()`` asks ``run_stack`` to stop (it
stops web and worker, then the embedded servers); what is still alive after that (all of it when
``run_stack`` was killed with SIGKILL) is ended by process group, web and worker first.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil

# How long run_stack's children get to finish what they are doing (gunicorn's graceful timeout is
# 30 s; a Celery task in flight is redelivered if it is cut short), and run_stack to wait for them.
CHILD_GRACE_S = 40
RUNNER_GRACE_S = CHILD_GRACE_S + 20


def _path(var_dir: Path) -> Path:
    return var_dir / "run" / "stack.json"


def record(var_dir: Path, children: dict[str, int]) -> None:
    """Note this process (``run_stack``) and its children, by name ("worker", "web") -> pid."""
    entries = {"run_stack": os.getpid(), **children}
    path = _path(var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps({name: {"pid": pid, "started": psutil.Process(pid).create_time()}
                                   for name, pid in entries.items()}))
    partial.replace(path)


def forget(var_dir: Path) -> None:
    """Drop the record, if it is this process's."""
    if _read(var_dir).get("run_stack", {}).get("pid") == os.getpid():
        _path(var_dir).unlink(missing_ok=True)


def running(var_dir: Path) -> int | None:
    """The pid of the ``run_stack`` that serves ``var_dir``, if one is running."""
    runner = _members(_read(var_dir).get("run_stack", {}), group=False)
    return runner[0].pid if runner else None


def stop(var_dir: Path) -> list[str]:
    """End what ``make run`` started, if it runs; returns the names of what was running."""
    entries = _read(var_dir)
    alive = [name for name in ("run_stack", "web", "worker")
             if name in entries and _members(entries[name], group=name != "run_stack")]
    _end(_members(entries.get("run_stack", {}), group=False), RUNNER_GRACE_S)
    for name in ("web", "worker"):  # before the broker and the database, which are stopped last
        _end(_members(entries.get(name, {})), CHILD_GRACE_S)
    _path(var_dir).unlink(missing_ok=True)
    return alive


def _read(var_dir: Path) -> dict:
    try:
        return json.loads(_path(var_dir).read_text())
    except (OSError, ValueError):
        return {}


def _members(entry: dict, *, group: bool = True) -> list[psutil.Process]:
    """The recorded process (leader first) and, with ``group``, the rest of its process group; none
    when its pid now belongs to another process."""
    pid, started = entry.get("pid"), entry.get("started")
    if pid is None:
        return []
    leader = _process(pid)
    if leader is not None and abs(leader.create_time() - started) > 0.01:
        return []  # the pid was recycled: not ours
    members = [leader] if leader is not None else []
    if group:
        # A process group id is not reused while any member lives, so these are the leader's.
        members += [p for p in psutil.process_iter() if p.pid != pid and _pgid(p.pid) == pid and process_alive(p)]
    return members


def _end(processes: list[psutil.Process], grace: float) -> None:
    """SIGTERM (to the leader, which stops its own children; to each when it is gone), then SIGKILL
    whatever is still alive after ``grace`` seconds."""
    if not processes:
        return
    for process in processes[:1] if process_alive(processes[0]) else processes:
        _signal(process, "terminate")
    deadline = time.monotonic() + grace
    while any(process_alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in processes:
        if process_alive(process):
            _signal(process, "kill")
    deadline = time.monotonic() + 5
    while any(process_alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)


def _process(pid: int) -> psutil.Process | None:
    try:
        process = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None
    return process if process_alive(process) else None


def process_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _signal(process: psutil.Process, how: str) -> None:
    try:
        getattr(process, how)()
    except psutil.NoSuchProcess:
        pass
