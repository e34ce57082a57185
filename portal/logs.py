"""Log lines that say what they belong to, as text or as JSON (``PORTAL_LOG_FORMAT``).

Every line carries the request, task or watch it was written for (``context``): the web
middleware binds ``req=<id>`` (the caller's ``X-Request-ID`` when it sends a usable one, so
a proxy's id follows the request), a task run by a worker binds ``task=<name>:<id>``, a
cluster watcher's threads ``watch=<cluster>/<kind>``; ``-`` elsewhere. A refusal (403, 404
and the other 4xx answers) is no error: Django's request log says it at INFO, with no
traceback.
"""

import contextvars
import json
import logging
import re
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

_context: contextvars.ContextVar[str] = contextvars.ContextVar("portal_log_context", default="")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current() -> str:
    """What this thread or task is working for ("" when nothing is bound)."""
    return _context.get()


def bind(value: str) -> contextvars.Token:
    """Binds ``value`` for what this thread or task logs from now on; ``reset`` the token."""
    return _context.set(value)


def reset(token: contextvars.Token) -> None:
    _context.reset(token)


@contextmanager
def bound(value: str):
    token = bind(value)
    try:
        yield
    finally:
        reset(token)


def request_id(header: str | None) -> str:
    """The caller's request id when it is usable, else a new one."""
    return header if header and REQUEST_ID.match(header) else uuid.uuid4().hex[:16]


class ContextFilter(logging.Filter):
    """Adds ``record.context`` (on the handler, so it covers every logger's records)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.context = _context.get() or "-"
        return True


class RefusalFilter(logging.Filter):
    """On ``django.request``: 4xx answers at INFO and without the exception's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, context, message (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "context": getattr(record, "context", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        status = getattr(record, "status_code", None)
        if isinstance(status, int):
            out["status"] = status
        return json.dumps(out, ensure_ascii=False, default=str)
