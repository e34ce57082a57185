"""Watching clusters: list-then-watch loops that keep a cache and hand batched changes to apps.

Shape, per cluster that this process holds the lease of (see ``WatchSupervisor``):

- one **reader** thread per registered ``Kind``: lists the collection (plain JSON, decoded with
  orjson), then watches from the list's resourceVersion with bookmarks, a server time-out and a
  client read time-out. On ``410 Gone`` it lists again and turns the difference with what it
  knew into events (DELETED for what vanished meanwhile). Other failures back off
  exponentially with jitter. It keeps the latest object per ``namespace/name`` in a ``Cache``
  that handlers read.
- one **dispatcher** thread: coalesces the readers' events by object (last wins) and hands them
  to the handlers in batches (every ``flush_interval`` or ``max_batch`` objects), so thousands
  of pod updates become a few database transactions. Handlers of the same function get one
  batch with the events of all their kinds.

A broken cluster only stalls its own threads: every request has a time-out and each cluster has
its own threads. The engine is generic: apps register kinds from their ``AppConfig.ready``;
this module imports nothing of them.
"""

from __future__ import annotations

import logging
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import orjson
import urllib3
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from kubernetes.client.rest import ApiException

from portal.db import close_stale_connections

log = logging.getLogger(__name__)

# ---- kinds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A collection to watch in every cluster and the function its batches go to.

    ``path`` is the collection URL path (``/api/v1/pods``, ``/apis/batch/v1/jobs``).
    ``index`` maps an object to a secondary key (e.g. a label value) the cache indexes on.
    ``optional``: a 404 means "not installed in this cluster" (a CRD); it is retried slowly.
    """

    name: str
    path: str
    handler: Callable[[Batch], None]
    label_selector: str = ""
    field_selector: str = ""
    index: Callable[[dict], str | None] | None = None
    optional: bool = False


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    """Adds (or replaces, by name) a kind that every cluster watch started afterwards includes."""
    _KINDS[kind.name] = kind


def registered() -> list[Kind]:
    """Returns the registered kinds in registration order."""
    return list(_KINDS.values())


# ---- events, caches, batches ---------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One change of one object: ``type`` is ADDED, MODIFIED or DELETED."""

    kind: str
    type: str
    key: str
    obj: dict
    attempt: int = 0


def object_key(obj: dict) -> str:
    """Returns ``namespace/name`` (or ``name`` for cluster-scoped objects)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name', '')}" if namespace else meta.get("name", "")


class Cache:
    """The latest object per key of one kind in one cluster, with an optional secondary index.

    Written only by the kind's reader thread; read by handlers from the dispatcher thread
    (a lock keeps each read consistent). Objects are shared: callers must not modify them.
    """

    def __init__(self, index: Callable[[dict], str | None] | None = None) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, dict] = {}
        self._index_fn = index
        self._index: dict[str, set[str]] = {}
        self.synced = False
        # Wall-clock time the latest complete list was requested (None before the first).
        self.listed_at: datetime | None = None

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, key: str) -> dict | None:
        """Returns the object stored under ``key``, or None."""
        return self._objects.get(key)

    def values(self) -> list[dict]:
        """Returns a snapshot list of every object."""
        with self._lock:
            return list(self._objects.values())

    def indexed(self, value: str) -> list[dict]:
        """Returns the objects whose index function gave ``value``."""
        with self._lock:
            return [self._objects[k] for k in self._index.get(value, ()) if k in self._objects]

    def _unindex(self, key: str, obj: dict | None) -> None:
        if obj is None or self._index_fn is None:
            return
        value = self._index_fn(obj)
        if value is not None:
            keys = self._index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._index[value]

    def put(self, key: str, obj: dict) -> None:
        """Stores ``obj`` under ``key`` (replacing the older version)."""
        with self._lock:
            self._unindex(key, self._objects.get(key))
            self._objects[key] = obj
            if self._index_fn is not None:
                value = self._index_fn(obj)
                if value is not None:
                    self._index.setdefault(value, set()).add(key)

    def remove(self, key: str) -> dict | None:
        """Drops ``key``; returns the object it held, if any."""
        with self._lock:
            old = self._objects.pop(key, None)
            self._unindex(key, old)
            return old

    def replace(self, items: Iterable[dict]) -> list[tuple[str, str, dict]]:
        """Makes the cache hold exactly ``items``; returns (type, key, object) for what changed.

        Objects with an unchanged resourceVersion give nothing; vanished ones give DELETED with
        their last known state, so a handler learns of deletions it missed.
        """
        fresh = {object_key(obj): obj for obj in items}
        changes: list[tuple[str, str, dict]] = []
        for key, old in list(self._objects.items()):
            if key not in fresh:
                self.remove(key)
                changes.append(("DELETED", key, old))
        for key, obj in fresh.items():
            old = self._objects.get(key)
            if old is None:
                changes.append(("ADDED", key, obj))
            elif _rv(old) != _rv(obj):
                changes.append(("MODIFIED", key, obj))
            else:
                continue
            self.put(key, obj)
        return changes


def _rv(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion", "")


@dataclass
class Batch:
    """What a handler gets: coalesced events of its kinds in one cluster, and the caches.

    ``resynced`` names the kinds that completed a full list since the previous batch (the
    first list after start, or a re-list after 410): handlers use it to catch up on objects
    that vanished while nobody watched. ``retry(event, after)`` hands an event back later
    (dropped if a newer event for the same object arrives first).
    """

    cluster_id: int
    events: list[Event]
    caches: dict[str, Cache]
    resynced: set[str] = field(default_factory=set)
    _retries: list[tuple[Event, float]] = field(default_factory=list)

    def cache(self, kind: str) -> Cache:
        """The cache of ``kind`` in this cluster (an empty, unsynced one if it is not watched)."""
        cache = self.caches.get(kind)
        return cache if cache is not None else Cache()  # an empty Cache is falsy

    def retry(self, event: Event, after: float = 0.5) -> None:
        """Asks for ``event`` to be handed again in ``after`` seconds."""
        self._retries.append((replace(event, attempt=event.attempt + 1), after))


# ---- one reader per (cluster, kind) --------------------------------------------------------


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


def _request_timeout() -> tuple[float, float]:
    return (min(5.0, float(settings.KUBE_REQUEST_TIMEOUT)), float(settings.KUBE_REQUEST_TIMEOUT))


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
    ) -> None:
        super().__init__(name=f"watch-{cluster_id}-{kind.name}", daemon=True)
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
        connect, _ = _request_timeout()
        try:
            return self.api.call_api(
                self.kind.path,
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=(connect, read_timeout),
            )
        except ApiException as exc:
            if exc.status == 410:
                raise Gone() from exc
            if exc.status == 404 and self.kind.optional:
                raise NotInstalled() from exc
            raise

    def _list(self) -> str:
        """Lists the collection, reconciles the cache, emits the differences; returns its rv."""
        started = timezone.now()
        response = self._get([], _request_timeout()[1])
        try:
            body = orjson.loads(response.data)
        finally:
            response.release_conn()
        changes = self.cache.replace(body.get("items") or [])
        for etype, key, obj in changes:
            self.emit(Event(self.kind.name, etype, key, obj))
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
        new_rv = _rv(obj) or rv
        if etype == "BOOKMARK":
            return new_rv
        key = object_key(obj)
        if etype == "DELETED":
            self.cache.remove(key)
        else:
            self.cache.put(key, obj)
        self.emit(Event(self.kind.name, etype, key, obj))
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
                rv = ""
            except NotInstalled:
                rv = ""
                self.stopping.wait(self.optional_retry)
            except Exception as exc:  # noqa: BLE001 - any failure: back off and resume
                if self.stopping.is_set():
                    break
                delay = self.backoff.next()
                log.warning(
                    "watch %s failed (%s: %s); retrying in %.1fs",
                    self.name,
                    type(exc).__name__,
                    str(exc)[:200],
                    delay,
                )
                self.stopping.wait(delay)


# ---- the dispatcher and one cluster's watch -------------------------------------------------

FLUSH_INTERVAL = 0.025
MAX_BATCH = 1000
MAX_ATTEMPTS = 20


class ClusterWatch:
    """Every kind of one cluster: a reader thread per kind and one dispatcher thread.

    ``start()`` returns at once; ``stop()`` ends all threads (open streams are shut so no
    thread waits for its read time-out) and returns once they have finished or ``timeout``
    passed. Handlers run only on the dispatcher thread, one batch at a time.
    """

    def __init__(
        self,
        cluster_id: int,
        api,
        kinds: list[Kind] | None = None,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        max_batch: int = MAX_BATCH,
        watch_seconds: int = WATCH_SECONDS,
        optional_retry: float = OPTIONAL_RETRY,
        backoff_cap: float = 30.0,
    ) -> None:
        self.cluster_id = cluster_id
        self.api = api
        self.kinds = list(kinds if kinds is not None else registered())
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.stopping = threading.Event()
        self.caches = {k.name: Cache(k.index) for k in self.kinds}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.readers = [
            Reader(
                api=api,
                cluster_id=cluster_id,
                kind=kind,
                cache=self.caches[kind.name],
                emit=self._queue.put,
                stopping=self.stopping,
                watch_seconds=watch_seconds,
                optional_retry=optional_retry,
                backoff_cap=backoff_cap,
            )
            for kind in self.kinds
        ]
        self._dispatcher = threading.Thread(
            target=self._dispatch, name=f"watch-{cluster_id}-dispatch", daemon=True
        )
        self.batches = 0  # batches handed to handlers, for tests and stats
        self.events = 0  # events handed to handlers

    def start(self) -> ClusterWatch:
        self._dispatcher.start()
        for reader in self.readers:
            reader.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for reader in self.readers:
            reader._abort()
        self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in [*self.readers, self._dispatcher]:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    def is_alive(self) -> bool:
        return self._dispatcher.is_alive() or any(r.is_alive() for r in self.readers)

    def _dispatch(self) -> None:
        pending: dict[tuple[str, str], Event] = {}
        delayed: dict[tuple[str, str], tuple[float, Event]] = {}
        resynced: set[str] = set()
        first_at: float | None = None
        try:
            while True:
                now = time.monotonic()
                if first_at is None:
                    wait = 0.5
                    if delayed:
                        wait = min(wait, max(0.0, min(d for d, _ in delayed.values()) - now))
                else:
                    wait = max(0.0, first_at + self.flush_interval - now)
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    item = False
                    if first_at is None and not delayed:
                        connection.close()  # idle: hold no connection (kept while busy)
                if item is None or self.stopping.is_set():
                    return
                # Take what is already queued without waiting, so bursts make big batches.
                items = [item] if item is not False else []
                while len(pending) + len(items) < self.max_batch:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        return
                    items.append(more)
                for entry in items:
                    if isinstance(entry, tuple):
                        resynced.add(entry[1])
                    else:
                        key = (entry.kind, entry.key)
                        pending.pop(key, None)  # last wins, and moves to the end
                        pending[key] = entry
                        delayed.pop(key, None)
                    if first_at is None:
                        first_at = time.monotonic()
                now = time.monotonic()
                for key, (due, event) in list(delayed.items()):
                    if due <= now:
                        del delayed[key]
                        pending.setdefault(key, event)
                        first_at = first_at or now
                if first_at is not None and (
                    len(pending) >= self.max_batch or now - first_at >= self.flush_interval
                ):
                    events, pending = list(pending.values()), {}
                    for event, after in self._flush(events, resynced):
                        key = (event.kind, event.key)
                        if event.attempt <= MAX_ATTEMPTS and key not in pending:
                            delayed[key] = (time.monotonic() + after, event)
                    resynced, first_at = set(), None
        finally:
            connection.close()

    def _flush(self, events: list[Event], resynced: set[str]) -> list[tuple[Event, float]]:
        """Hands ``events`` to their handlers; returns the events to hand again and when."""
        by_handler: dict[Callable, list[Event]] = {}
        kinds = {k.name: k for k in self.kinds}
        for kind in self.kinds:
            by_handler.setdefault(kind.handler, [])
        for event in events:
            by_handler[kinds[event.kind].handler].append(event)
        retries: list[tuple[Event, float]] = []
        close_stale_connections()
        for handler, handed in by_handler.items():
            names = {k.name for k in self.kinds if k.handler is handler}
            mine = resynced & names
            if not handed and not mine:
                continue
            batch = Batch(self.cluster_id, handed, self.caches, mine)
            try:
                handler(batch)
            except Exception:  # noqa: BLE001 - a failing batch is retried, the loop goes on
                log.exception("watch handler %s failed on cluster %s", handler, self.cluster_id)
                retries.extend((replace(e, attempt=e.attempt + 5), 1.0) for e in handed)
                continue
            retries.extend(batch._retries)
            self.batches += 1
            self.events += len(handed)
        return retries


# ---- leases ---------------------------------------------------------------------------------


def lease_claim(*, cluster_id: int, holder: str, seconds: float) -> bool:
    """Takes or renews the watch lease of a cluster for ``seconds``; True when ``holder`` has it.

    One conditional UPDATE decides, so of several processes claiming at once exactly one wins;
    a lease whose holder stopped renewing can be taken once it has expired.
    """
    from django.db import IntegrityError
    from django.db.models import Q

    from compute.models import ClusterLease

    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    free = Q(holder=holder) | Q(holder="") | Q(expires_at__lt=now)
    if ClusterLease.objects.filter(free, cluster_id=cluster_id).update(
        holder=holder, expires_at=until, renewed_at=now
    ):
        return True
    try:
        ClusterLease.objects.create(
            cluster_id=cluster_id, holder=holder, expires_at=until, renewed_at=now
        )
        return True
    except IntegrityError:  # someone else's row exists (and is valid), or was just created
        return False


def lease_release(*, cluster_id: int, holder: str) -> None:
    """Gives the lease up (if ``holder`` has it) so another process may take it at once."""
    from compute.models import ClusterLease

    ClusterLease.objects.filter(cluster_id=cluster_id, holder=holder).update(holder="")


# ---- the supervisor -------------------------------------------------------------------------


class WatchSupervisor:
    """Runs a ``ClusterWatch`` for each usable cluster whose lease this process holds.

    Every ``tick`` seconds it renews its leases, claims free ones, starts watches for new or
    newly usable clusters, and stops those of deleted or unusable clusters and of leases it
    lost. ``stop()`` stops every watch and releases the leases.
    """

    def __init__(
        self,
        *,
        holder: str | None = None,
        lease_seconds: float = 15.0,
        tick: float = 3.0,
        watch_options: dict | None = None,
    ) -> None:
        self.holder = holder or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self.tick = tick
        self.watch_options = dict(watch_options or {})
        self.watches: dict[int, ClusterWatch] = {}
        self._renewed: dict[int, float] = {}
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WatchSupervisor:
        """Runs the supervisor on a daemon thread; returns at once."""
        self._thread = threading.Thread(target=self.run, name="watch-supervisor", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Supervises until ``stop()``; then stops every watch and releases the leases."""
        try:
            while not self.stopping.is_set():
                try:
                    self.check()
                except Exception:  # noqa: BLE001 - e.g. the database is briefly away
                    log.exception("watch supervisor pass failed")
                    self._drop_expired()
                finally:
                    close_old_connections()
                self.stopping.wait(self.tick)
        finally:
            self._shutdown()
            connection.close()

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def check(self) -> None:
        """One pass: renew or claim leases, start and stop watches accordingly."""
        from compute import gateway
        from compute.models import Cluster, ClusterStatus

        usable = {
            c.pk: c
            for c in Cluster.objects.filter(
                status__in=[ClusterStatus.CONNECTED, ClusterStatus.DEGRADED]
            )
        }
        for cluster_id in list(self.watches):
            if cluster_id not in usable:
                self._stop_watch(cluster_id, release=True)
        for cluster_id, cluster in usable.items():
            if self.stopping.is_set():
                return
            if not lease_claim(
                cluster_id=cluster_id, holder=self.holder, seconds=self.lease_seconds
            ):
                if cluster_id in self.watches:
                    log.warning("lost the watch lease of cluster %s", cluster.name)
                    self._stop_watch(cluster_id, release=False)
                continue
            self._renewed[cluster_id] = time.monotonic()
            api = gateway.client_for(cluster)
            current = self.watches.get(cluster_id)
            if current is not None and (current.api is not api or not current.is_alive()):
                self._stop_watch(cluster_id, release=False)  # new credentials: start afresh
                current = None
            if current is None:
                log.info("watching cluster %s", cluster.name)
                self.watches[cluster_id] = ClusterWatch(
                    cluster_id, api, **self.watch_options
                ).start()

    def _drop_expired(self) -> None:
        """Stops watches whose lease may have passed to someone else (renewal kept failing)."""
        now = time.monotonic()
        for cluster_id in list(self.watches):
            if now - self._renewed.get(cluster_id, 0) > self.lease_seconds * 0.8:
                self._stop_watch(cluster_id, release=False)

    def _stop_watch(self, cluster_id: int, *, release: bool) -> None:
        watch = self.watches.pop(cluster_id, None)
        self._renewed.pop(cluster_id, None)
        if watch is not None:
            watch.stop()
        if release:
            try:
                lease_release(cluster_id=cluster_id, holder=self.holder)
            except Exception:  # noqa: BLE001 - it expires on its own
                log.exception("releasing the lease of cluster %s failed", cluster_id)

    def _shutdown(self) -> None:
        for cluster_id in list(self.watches):
            self._stop_watch(cluster_id, release=True)


# ---- the embedded mode ----------------------------------------------------------------------

_embedded: WatchSupervisor | None = None


def embedded_start() -> None:
    """Starts the supervisor thread inside the web process (embedded mode)."""
    global _embedded
    if _embedded is None:
        _embedded = WatchSupervisor().start()


def embedded_stop() -> None:
    global _embedded
    if _embedded is not None:
        _embedded.stop()
        _embedded = None


# ---- compute's own kinds: nodes and instance types ------------------------------------------

SYNC_DEBOUNCE = 5.0
_last_sync: dict[int, float] = {}


def _capacity_changed(batch: Batch) -> None:
    """Queues ``cluster_sync`` at most once per SYNC_DEBOUNCE seconds per cluster.

    A change inside the window is handed back for when the window ends, so the last change
    is always synced; the other events of the batch add nothing and are dropped.
    """
    from compute import tasks
    from portal.background import run_now

    if not batch.events:
        return  # a (re)list with no difference
    now = time.monotonic()
    last = _last_sync.get(batch.cluster_id)
    if last is not None and now - last < SYNC_DEBOUNCE:
        batch.retry(replace(batch.events[0], attempt=0), after=SYNC_DEBOUNCE - (now - last))
        return
    _last_sync[batch.cluster_id] = now
    run_now(tasks.cluster_sync, batch.cluster_id)


def register_compute_kinds() -> None:
    """Registers the nodes and InstanceType kinds (called from ``ComputeConfig.ready``)."""
    register(Kind(name="nodes", path="/api/v1/nodes", handler=_capacity_changed))
    register(
        Kind(
            name="instancetypes",
            path="/apis/kubeportal.io/v1alpha1/instancetypes",
            handler=_capacity_changed,
            optional=True,
        )
    )
