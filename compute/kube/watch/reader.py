"""One reader per (cluster, kind): list, then watch from the list's resourceVersion.

The list is plain JSON (decoded with orjson); the watch asks for bookmarks and a server
time-out, with a client read time-out on top. On ``410 Gone`` the reader lists again and
turns the difference with what it knew into events (DELETED for what vanished meanwhile).
Other failures back off exponentially with jitter, and at least as long as a 429's
``Retry-After`` asks.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import orjson
import urllib3
from django.conf import settings
from django.utils import timezone

from compute.kube import calls
from compute.kube.client import request_timeout
from compute.kube.errors import ClusterError
from compute.kube.watch.cache import Cache, Event, object_key, resource_version
from compute.kube.watch.kinds import Kind
from compute.kube.watch.stats import RELISTS, RESTARTS, Window
from portal import logs

log = logging.getLogger(__name__)


class Gone(Exception):
    """The resourceVersion is too old (410): the reader must list again."""


class NotInstalled(Exception):
    """An optional kind's collection does not exist (404) in this cluster."""


class Backoff:
    """Exponential back-off with full jitter: 0.5 s, 1 s, 2 s, ... capped at ``cap`` seconds."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def next(self) -> float:
        """Returns the next delay (random in [delay/2, delay]) and counts a failure."""
        delay = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        return delay / 2 + random.random() * delay / 2

    def reset(self) -> None:
        self.failures = 0


WATCH_SECONDS = 240  # server-side watch time-out; the server ends the stream, we resume
OPTIONAL_RETRY = 60.0  # how often a missing optional kind (CRD not installed) is tried again


class Reader(threading.Thread):
    """Lists then watches one kind in one cluster, feeding its cache and the dispatcher."""

    def __init__(
        self,
        *,
        api,
        cluster_id: int,
        kind: Kind,
        cache: Cache,
        emit: Callable[[object], None],
        stopping: threading.Event,
        watch_seconds: int = WATCH_SECONDS,
        optional_retry: float = OPTIONAL_RETRY,
        backoff_cap: float = 30.0,
        window: Window | None = None,
    ) -> None:
        super().__init__(name=f"watch-{cluster_id}-{kind.name}", daemon=True)
        self.window = window or Window()
        self.api = api
        self.cluster_id = cluster_id
        self.kind = kind
        self.cache = cache
        self.emit = emit
        self.stopping = stopping
        self.watch_seconds = watch_seconds
        self.optional_retry = optional_retry
        self.backoff = Backoff(cap=backoff_cap)
        self._response: urllib3.BaseHTTPResponse | None = None
        self._response_lock = threading.Lock()
        self.lists = 0  # complete lists done (counts re-lists after 410), for tests and stats

    # -- HTTP --------------------------------------------------------------------------------
    def _get(self, params: list[tuple[str, str]], read_timeout: float):
        query = list(params)
        if self.kind.label_selector:
            query.append(("labelSelector", self.kind.label_selector))
        if self.kind.field_selector:
            query.append(("fieldSelector", self.kind.field_selector))
        try:
            return calls.stream(
                self.api,
                f"watching {self.kind.name}",
                self.kind.path,
                query=query,
                read_timeout=read_timeout,
            )
        except ClusterError as err:
            if err.status == 410:
                raise Gone() from err
            if err.status == 404 and self.kind.optional:
                raise NotInstalled() from err
            raise

    def _list(self) -> str:
        """Lists the collection, reconciles the cache, emits the differences; returns its rv."""
        started = timezone.now()
        response = self._get([], request_timeout()[1])
        try:
            body = orjson.loads(response.data)
        finally:
            response.release_conn()
        changes = self.cache.replace(body.get("items") or [])
        now = time.monotonic()
        for etype, key, obj in changes:
            self.emit(Event(self.kind.name, etype, key, obj, received=now))
        self.cache.synced, self.cache.listed_at = True, started
        self.lists += 1
        self.emit(("resynced", self.kind.name))
        return (body.get("metadata") or {}).get("resourceVersion", "")

    def _watch(self, rv: str) -> tuple[str, int]:
        """Follows the watch stream from ``rv`` until it ends; returns (last rv, lines read)."""
        params = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self.watch_seconds)),
            ("resourceVersion", rv),
        ]
        # The server ends the stream after timeoutSeconds; a read that waits much longer
        # means a dead connection, so the client gives up on its own.
        response = self._get(params, self.watch_seconds + float(settings.KUBE_REQUEST_TIMEOUT))
        with self._response_lock:
            self._response = response
        if self.stopping.is_set():
            self._abort()
        lines = 0
        buffer = b""
        try:
            for chunk in response.stream(65536):
                buffer += chunk
                if b"\n" not in buffer:
                    continue
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    if not line.strip():
                        continue
                    lines += 1
                    rv = self._on_line(line, rv)
                    self.backoff.reset()
                if self.stopping.is_set():
                    break
        finally:
            with self._response_lock:
                self._response = None
            response.release_conn()
        return rv, lines

    def _on_line(self, line: bytes, rv: str) -> str:
        event = orjson.loads(line)
        etype, obj = event.get("type"), event.get("object") or {}
        if etype == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise RuntimeError(f"watch error {obj.get('code')}: {obj.get('message')}")
        new_rv = resource_version(obj) or rv
        if etype == "BOOKMARK":
            return new_rv
        key = object_key(obj)
        if etype == "DELETED":
            self.cache.remove(key)
        else:
            self.cache.put(key, obj)
        self.emit(Event(self.kind.name, etype, key, obj, received=time.monotonic()))
        return new_rv

    def _abort(self) -> None:
        """Closes the open watch stream (from another thread) so the reader notices a stop."""
        with self._response_lock:
            response = self._response
        if response is not None:
            try:
                response.shutdown()
            # urllib3 raises ValueError when the stream's socket is not (or no longer) set:
            # stopping then must still go on, or the supervisor keeps its cluster's lease.
            except (OSError, AttributeError, ValueError):
                pass

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        logs.bind(f"watch={self.cluster_id}/{self.kind.name}")
        labels = (str(self.cluster_id), self.kind.name)
        rv = ""
        while not self.stopping.is_set():
            try:
                if not rv:
                    rv = self._list()
                    self.backoff.reset()
                started = time.monotonic()
                rv, lines = self._watch(rv)
                if lines == 0 and time.monotonic() - started < 1.0:
                    # An instantly empty stream would loop hot; treat it as a failure.
                    self.stopping.wait(self.backoff.next())
            except Gone:
                log.info("watch %s: resourceVersion expired; listing again", self.name)
                RELISTS.labels(*labels).inc()
                self.window.relist()
                rv = ""
            except NotInstalled:
                rv = ""
                self.stopping.wait(self.optional_retry)
            except Exception as exc:  # noqa: BLE001 - any failure: back off and resume
                if self.stopping.is_set():
                    break
                delay = self.backoff.next()
                asked = getattr(exc, "retry_after", None)  # a 429 says how long to wait
                if asked:
                    delay = max(delay, asked)
                RESTARTS.labels(*labels).inc()
                self.window.restart()
                log.warning(
                    "watch %s failed (%s: %s); retrying in %.1fs",
                    self.name,
                    type(exc).__name__,
                    str(exc)[:200],
                    delay,
                )
                self.stopping.wait(delay)
