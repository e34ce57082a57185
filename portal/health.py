"""Health and metrics endpoints for load balancers, Kubernetes probes and Prometheus.

- ``/healthz``: the process is alive (answers without touching anything).
- ``/readyz``: it can work: the database answers, the cache and the broker answer, and
  whatever the process added (``add_check``: a watcher process, that its lease loop keeps
  going). 200 ``ready`` or 503 ``not ready``, nothing more: what failed goes to the log.
- ``/metrics``: Prometheus' text format (``portal.metrics``).

The web process answers them from ``ProbeMiddleware``, first in the chain, so neither the
host check (probes use the pod's address), the HTTPS redirect, nor sessions are in the way;
its ``/metrics`` needs ``PORTAL_METRICS_TOKEN`` as a bearer token (no token set: 404).
Worker, beat and watcher processes have no web server: with ``PORTAL_PROBE_PORT`` set they
serve the same three paths on that port (``serve_probes``), ``/metrics`` open there unless
a token is set.
"""

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpResponse

from portal import metrics
from portal.celery import app as celery_app

log = logging.getLogger(__name__)

PATHS = {"/healthz", "/readyz", "/metrics"}
CHECK_TIMEOUT = 3.0  # seconds for a broker round trip

_extra: dict[str, Callable[[], bool]] = {}


def add_check(name: str, check: Callable[[], bool]) -> None:
    """Adds a readiness check of this process (a watcher's lease loop)."""
    _extra[name] = check


def _database() -> bool:
    conn = connections["default"]
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    finally:
        if not conn.in_atomic_block:
            conn.close()  # back to the pool; a probe thread holds nothing


def _cache() -> bool:
    cache.set("portal:readyz", 1, 30)
    return cache.get("portal:readyz") == 1


def _broker() -> bool:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
    return True


def ready() -> tuple[bool, list[str]]:
    """Whether every check passed, and the names of those that did not (logged with why)."""
    checks = {"database": _database, "cache": _cache, "broker": _broker, **_extra}
    failed = []
    for name, check in checks.items():
        try:
            ok = check()
        except Exception as exc:  # noqa: BLE001 - any failure makes the process not ready
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            ok = False
        else:
            if not ok:
                log.warning("readiness check %s failed", name)
        if not ok:
            failed.append(name)
    return not failed, failed


def answer(path: str, authorization: str | None, *, metrics_need_token: bool):
    """``(status, body, content type)`` for one of ``PATHS``."""
    if path == "/healthz":
        return 200, b"ok\n", "text/plain"
    if path == "/readyz":
        ok, _failed = ready()
        return (200, b"ready\n", "text/plain") if ok else (503, b"not ready\n", "text/plain")
    if not metrics.authorized(authorization, required=metrics_need_token):
        status = 404 if metrics_need_token and not settings.METRICS_TOKEN else 401
        return status, b"", "text/plain"
    body, content_type = metrics.exposition()
    return 200, body, content_type


class ProbeMiddleware:
    """Answers ``GET``/``HEAD`` of ``PATHS`` before anything else runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path not in PATHS or request.method not in {"GET", "HEAD"}:
            return self.get_response(request)
        status, body, content_type = answer(
            request.path, request.headers.get("Authorization"), metrics_need_token=True
        )
        response = HttpResponse(body, status=status, content_type=content_type)
        response["Cache-Control"] = "no-store"
        return response


class _Handler(BaseHTTPRequestHandler):
    server_version = "portal"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        if path not in PATHS:
            status, body, content_type = 404, b"", "text/plain"
        else:
            status, body, content_type = answer(
                path, self.headers.get("Authorization"), metrics_need_token=False
            )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # probes every few seconds: quiet
        pass


def serve_probes(port: int | None = None) -> ThreadingHTTPServer | None:
    """Serves ``PATHS`` on ``port`` (default ``PORTAL_PROBE_PORT``) from a daemon thread of
    this process; None when no port is set. Returns the server (``server_address`` has the
    port really bound)."""
    port = settings.PROBE_PORT if port is None else port
    if not port:
        return None
    server = ThreadingHTTPServer((settings.PROBE_ADDRESS, port), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="portal-probes", daemon=True).start()
    log.info("health and metrics on %s:%s", *server.server_address[:2])
    return server


def serve_probes_on_signal(**kwargs) -> None:
    """``serve_probes()`` as a Celery signal receiver (worker ready, beat started)."""
    serve_probes()


class Heartbeat:
    """A loop's sign of life for ``/readyz``: ``beat()`` on each pass; ``fresh()`` is True
    while the last pass is at most ``max_age`` seconds old."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self.last = time.monotonic()

    def beat(self) -> None:
        self.last = time.monotonic()

    def fresh(self) -> bool:
        return time.monotonic() - self.last <= self.max_age
