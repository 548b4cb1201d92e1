"""Loaded by the worker of tests/ops/test_worker_output.py with ``--include tests.ops.traceback_probe``:
once the worker is ready, it reports an exception the way the interpreter reports an uncaught one
(``sys.excepthook`` writing to ``sys.stderr``), as a worker crashing on its way out does."""

import sys

from celery import signals


@signals.worker_ready.connect
def report_an_exception(**kwargs) -> None:
    names = {"present": 1}
    try:
        value = names["present"] + names["missing"]  # the caret line marks only part of this line
    except KeyError:
        sys.excepthook(*sys.exc_info())
    else:
        print(value)
