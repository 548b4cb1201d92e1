"""The machinery of commands that work through a folder of photos (``ingest_images``,
``recognize_images``): jobs run here or in forked worker processes, and progress shown as a bar on
a terminal or as plain lines in a pipe or log file. It knows nothing of what a job does."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tqdm import tqdm

# Progress written to a pipe or a file: a line at most this often, then one final line.
PIPED_PROGRESS_INTERVAL_S = 30.0


class LineProgress:
    """Progress for a stream that is not a terminal (a pipe, a log file): plain lines in tqdm's
    words, instead of a bar redrawn with carriage returns, and exactly one line at 100 %."""

    FORMAT = "{percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"

    def __init__(self, write, total: int, interval: float = PIPED_PROGRESS_INTERVAL_S, unit: str = "photo"):
        self.write, self.total, self.interval, self.unit = write, total, interval, unit
        self.done, self.postfix = 0, {}
        self.started = self.shown = time.monotonic()

    def update(self, count: int) -> None:
        self.done += count
        if self.done < self.total and time.monotonic() - self.shown >= self.interval:
            self._line()

    def set_postfix(self, refresh: bool = False, **values) -> None:
        self.postfix = values

    def close(self) -> None:
        self._line()

    def _line(self) -> None:
        self.shown = time.monotonic()
        postfix = ", ".join(f"{key}={value}" for key, value in sorted(self.postfix.items()))
        self.write(tqdm.format_meter(self.done, self.total, self.shown - self.started, unit=self.unit,
                                     bar_format=self.FORMAT, postfix=postfix))


def progress(stderr, total: int, *, shown: bool, unit: str = "photo"):
    """A progress bar on ``stderr`` (a command's ``self.stderr``): redrawn in place on a terminal,
    a line every 30 s and a final one otherwise, nothing when not ``shown``. Both have tqdm's
    ``update``, ``set_postfix`` and ``close``."""
    if shown and not stderr.isatty():
        return LineProgress(stderr.write, total, unit=unit)
    # tqdm redraws its line with carriage returns: it writes to the stream itself, not through
    # Django's wrapper, which would end every redraw with a newline.
    return tqdm(total=total, unit=unit, disable=not shown, file=stderr._out, dynamic_ncols=True)


# --- worker processes -------------------------------------------------------------------------

_worker_call: tuple[Callable[..., Any], tuple, dict] | None = None


def _worker_init(function: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    global _worker_call
    import django
    from django.db import connections

    django.setup()
    connections.close_all()  # never share the parent's sockets
    _worker_call = (function, args, kwargs)


def _worker_run(job):
    function, args, kwargs = _worker_call
    return function(*args, job, **kwargs)


def jobs_run(
    function: Callable[..., Any], args: tuple, jobs: Iterable, *, workers: int, kwargs: dict | None = None
) -> Iterator[Any]:
    """``function(*args, job, **kwargs)`` for every job, as each finishes: here with one worker,
    else in ``workers`` forked processes (in any order). ``function`` must be a module-level
    function; ``args`` and ``kwargs`` (the same for every job, e.g. a domain id and a large name ->
    id map) reach each worker once, when it starts, instead of with every job."""
    kwargs = kwargs or {}
    if workers == 1:
        for job in jobs:
            yield function(*args, job, **kwargs)
        return
    from django.db import connections

    connections.close_all()  # forked workers must open their own connections
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_worker_init, initargs=(function, args, kwargs)) as pool:
        yield from pool.imap_unordered(_worker_run, jobs)
