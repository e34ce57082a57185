"""One cluster's watch: a reader thread per kind and one dispatcher thread.

The dispatcher coalesces the readers' events by object (last wins) and hands them to the
handlers in batches (every ``flush_interval`` or ``max_batch`` objects), so thousands of
pod updates become a few database transactions. Handlers of the same function get one
batch with the events of all their kinds. Handlers run only on the dispatcher thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.db import connection

from compute.kube.watch.cache import Cache, Event
from compute.kube.watch.kinds import Kind, registered
from compute.kube.watch.reader import OPTIONAL_RETRY, WATCH_SECONDS, Reader
from compute.kube.watch.stats import BATCHES, EVENTS, LAG, Window
from portal import logs
from portal.db import close_stale_connections

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.025
MAX_BATCH = 1000
MAX_ATTEMPTS = 20


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


class _Pending:
    """What the dispatcher holds between two flushes: the latest event per object, the
    events handed back for later (with when they are due) and the kinds re-listed."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], Event] = {}
        self.delayed: dict[tuple[str, str], tuple[float, Event]] = {}
        self.resynced: set[str] = set()
        self.first_at: float | None = None  # when the oldest unflushed item arrived

    @property
    def idle(self) -> bool:
        return self.first_at is None and not self.delayed

    def wait(self, now: float, flush_interval: float) -> float:
        """How long the dispatcher may wait for more before it has work to do."""
        if self.first_at is not None:
            return max(0.0, self.first_at + flush_interval - now)
        if self.delayed:
            return min(0.5, max(0.0, min(due for due, _ in self.delayed.values()) - now))
        return 0.5

    def add(self, entry: Event | tuple[str, str]) -> None:
        """Takes an event (last one per object wins) or a ("resynced", kind) notice."""
        if isinstance(entry, tuple):
            self.resynced.add(entry[1])
        else:
            key = (entry.kind, entry.key)
            self.events.pop(key, None)  # last wins, and moves to the end
            self.events[key] = entry
            self.delayed.pop(key, None)
        if self.first_at is None:
            self.first_at = time.monotonic()

    def release_due(self, now: float) -> None:
        """Moves handed-back events whose time has come into the next batch."""
        for key, (due, event) in list(self.delayed.items()):
            if due <= now:
                del self.delayed[key]
                self.events.setdefault(key, event)
                self.first_at = self.first_at or now

    def due(self, now: float, flush_interval: float, max_batch: int) -> bool:
        return self.first_at is not None and (
            len(self.events) >= max_batch or now - self.first_at >= flush_interval
        )

    def take(self) -> tuple[list[Event], set[str]]:
        """Returns the batch's events and re-listed kinds, and starts the next batch."""
        events, resynced = list(self.events.values()), self.resynced
        self.events, self.resynced, self.first_at = {}, set(), None
        return events, resynced

    def hand_back(self, retries: list[tuple[Event, float]]) -> None:
        """Delays the events a handler handed back (unless retried too often, or newer)."""
        for event, after in retries:
            key = (event.kind, event.key)
            if event.attempt <= MAX_ATTEMPTS and key not in self.events:
                self.delayed[key] = (time.monotonic() + after, event)


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
        self.window = Window()  # counts since the last summary
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
                window=self.window,
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
        logs.bind(f"watch={self.cluster_id}")
        state = _Pending()
        try:
            while True:
                items = self._receive(state)
                if items is None:
                    return
                for entry in items:
                    state.add(entry)
                now = time.monotonic()
                state.release_due(now)
                if state.due(now, self.flush_interval, self.max_batch):
                    state.hand_back(self._flush(*state.take()))
        finally:
            connection.close()

    def _receive(self, state: _Pending) -> list | None:
        """Waits for the readers' next item (at most until work is due), then takes what
        else is queued without waiting, so bursts make big batches. None: stop."""
        try:
            items = [self._queue.get(timeout=state.wait(time.monotonic(), self.flush_interval))]
        except queue.Empty:
            items = []
            if state.idle:
                connection.close()  # idle: hold no connection (kept while busy)
        if (items and items[0] is None) or self.stopping.is_set():
            return None
        while len(state.events) + len(items) < self.max_batch:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return None
            items.append(more)
        return items

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
            self._count(handed)
        return retries

    def _count(self, handed: list[Event]) -> None:
        """Metrics and the summary window for one batch the handlers took."""
        cluster = str(self.cluster_id)
        per_kind: dict[str, int] = {}
        oldest = None
        for event in handed:
            per_kind[event.kind] = per_kind.get(event.kind, 0) + 1
            if event.received and (oldest is None or event.received < oldest):
                oldest = event.received
        for kind, count in per_kind.items():
            EVENTS.labels(cluster, kind).inc(count)
        BATCHES.labels(cluster).inc()
        lag = time.monotonic() - oldest if oldest is not None else 0.0
        if oldest is not None:
            LAG.labels(cluster).observe(lag)
        self.window.batch(len(handed), lag)
