"""Prometheus metrics of every process, made in one place.

``counter()``, ``histogram()`` and ``gauge()`` return the metric of that name, made once
per process (asking again returns the same object), so each app declares its own next to
its code (tasks, watches, broadcasts here; scoring requests and metric points later).
Names get the ``portal_`` prefix.

Each process keeps its own values. With ``PROMETHEUS_MULTIPROC_DIR`` set (the client
library's own variable: a directory, emptied before the processes start), the processes
sharing it — uvicorn's ``--workers``, a Celery worker's pool processes — are added up in
one answer, so one scrape sees them all.
"""

import hmac
import os
import threading

from django.conf import settings
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

PREFIX = "portal_"
# Seconds: from a millisecond-fast cache hit to a slow cluster call.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_made: dict[str, object] = {}
_lock = threading.Lock()


def _make(cls, name: str, documentation: str, labels, **options):
    full = PREFIX + name
    with _lock:
        metric = _made.get(full)
        if metric is None:
            metric = _made[full] = cls(full, documentation, labelnames=tuple(labels), **options)
        return metric


def counter(name: str, documentation: str, labels=()) -> Counter:
    """The counter ``portal_<name>`` (exposed as ``portal_<name>_total``)."""
    return _make(Counter, name, documentation, labels)


def histogram(name: str, documentation: str, labels=(), buckets=BUCKETS) -> Histogram:
    """The histogram ``portal_<name>`` (seconds, unless the name says otherwise)."""
    return _make(Histogram, name, documentation, labels, buckets=buckets)


def gauge(name: str, documentation: str, labels=(), mode: str = "livesum") -> Gauge:
    """The gauge ``portal_<name>``; ``mode`` says how processes sharing a multi-process
    directory add up (``livesum``: the sum over live processes)."""
    return _make(Gauge, name, documentation, labels, multiprocess_mode=mode)


def exposition() -> tuple[bytes, str]:
    """This process's metrics (or those of every process sharing its multi-process
    directory) in Prometheus' text format, and the content type to send them with."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


def authorized(header: str | None, *, required: bool) -> bool:
    """True when ``header`` (an ``Authorization`` value) carries ``PORTAL_METRICS_TOKEN``;
    without a token set, True only where it is not ``required`` (a separate port)."""
    token = settings.METRICS_TOKEN
    if not token:
        return not required
    given = (header or "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.encode())
