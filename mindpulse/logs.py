"""Structured logs: one line per request, per task and per model decision.

`LOG_FORMAT=json` writes one JSON object per line (ts, level, logger, msg, then the record's
extra fields); the default writes the same fields as readable `key=value` pairs. Every line
logged while a request or a task runs carries its `request_id` or `task_id` (a context
variable read by ContextFilter), so one id finds everything a request or a run did.

What is logged is chosen, never dumped: method, path without its query string, status,
duration, user id. Never a request body, a feature value or free text.

This module is imported by the logging configuration at start-up: no Django models here.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

REQUEST_ID = contextvars.ContextVar("request_id", default=None)
TASK_ID = contextvars.ContextVar("task_id", default=None)

# An incoming X-Request-ID is kept only when it cannot forge or break a log line.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# Django passes the HttpRequest as an extra; its repr has the query string: never logged.
_DROPPED_EXTRAS = frozenset({"request"})
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}

request_logger = logging.getLogger("mindpulse.request")
task_logger = logging.getLogger("mindpulse.task")


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is a safe token, a new random id otherwise."""
    if header and _SAFE_ID.match(header):
        return header
    return uuid.uuid4().hex


def extra_fields(record: logging.LogRecord) -> dict:
    """The fields a caller passed with `extra=` (plus the ids added by ContextFilter)."""
    dropped = _DROPPED_EXTRAS
    if record.name.startswith("celery"):
        # Celery attaches the whole message (args and kwargs included) as `data`; its own
        # text already names the task and its id.
        dropped = dropped | {"data"}
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and key not in dropped and not key.startswith("_")
    }


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


class ContextFilter(logging.Filter):
    """Adds the current request id and task id to every record logged while they run."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("request_id", REQUEST_ID), ("task_id", TASK_ID)):
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            payload.setdefault(key, value)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exc"] = record.exc_text
        return json.dumps(payload, default=str, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """`ts level logger msg key=value ...`, readable in a terminal, still greppable."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, record.name, record.getMessage()]
        parts += [f"{key}={_kv_value(value)}" for key, value in extra_fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _kv_value(value) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and not re.search(r'[\s"=]', text):
        return text
    return json.dumps(text, ensure_ascii=False)


class RequestLogMiddleware:
    """One line per request: id, method, path (no query string), status, duration, user."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets when get_response itself raises
        try:
            response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = request_id
            return response
        finally:
            request_logger.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user": _user_of(request),
                },
            )
            REQUEST_ID.reset(token)


def _user_of(request) -> str | int:
    user = getattr(request, "user", None)
    try:
        if user is not None and user.is_authenticated:
            return user.pk
    except Exception:  # a broken session must not turn a logged request into an error
        return "unknown"
    return "anonymous"


# --- Celery tasks (connected in mindpulse.apps) ------------------------------------------------

_started: dict[str, tuple[float, contextvars.Token]] = {}


def on_task_prerun(sender=None, task_id=None, **kwargs) -> None:
    if task_id:
        _started[task_id] = (time.perf_counter(), TASK_ID.set(task_id))


def on_task_postrun(sender=None, task_id=None, state=None, **kwargs) -> None:
    started, token = _started.pop(task_id, (None, None))
    task_logger.info(
        "task",
        extra={
            "task": getattr(sender, "name", str(sender)),
            "task_id": task_id,
            "state": state,
            "duration_ms": (
                None if started is None else round((time.perf_counter() - started) * 1000, 2)
            ),
        },
    )
    if token is not None:
        try:
            TASK_ID.reset(token)
        except ValueError:  # set in another context (a thread pool): forget it instead
            TASK_ID.set(None)
