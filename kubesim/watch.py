"""Watch fan-out: per-watcher bounded queues fed synchronously by the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson

from kubesim.resources import ResourceType
from kubesim.selectors import Requirement, fields_match, labels_match
from kubesim.store import Store, WatchEvent

# Queue item meaning "stop now" (overflow or an injected fault).
_CLOSE = None


class Watcher:
    """One open watch: filters events for its resource and buffers them in a bounded queue."""

    def __init__(
        self,
        rt: ResourceType,
        namespace: str | None,
        lreqs: list[Requirement],
        freqs: list[tuple[str, str, str]],
        queue_size: int,
    ) -> None:
        self.rt = rt
        self.namespace = namespace if rt.namespaced else None
        self.lreqs = lreqs
        self.freqs = freqs
        self.queue: asyncio.Queue[tuple[str, dict] | None] = asyncio.Queue(queue_size)
        self.closed = False
        self.overflowed = False
        self.sent = 0
        # The Status a closed watch ends with, written as its last (ERROR) event.
        self.error: dict | None = None

    def matches(self, obj: dict | None) -> bool:
        """Return whether ``obj`` is within this watch's namespace and selectors."""
        if obj is None:
            return False
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        if self.lreqs and not labels_match(self.lreqs, obj):
            return False
        return not self.freqs or fields_match(self.freqs, obj)

    def translate(self, event: WatchEvent) -> tuple[str, dict] | None:
        """Return the (type, object) this watcher should see for ``event``, or None.

        A modification that moves an object into the selection is an ADDED, one that moves
        it out is a DELETED, as the Kubernetes watch cache reports them.
        """
        if event.type == "ADDED":
            return ("ADDED", event.obj) if self.matches(event.obj) else None
        if event.type == "DELETED":
            return ("DELETED", event.obj) if self.matches(event.old or event.obj) else None
        now, before = self.matches(event.obj), self.matches(event.old)
        if now and before:
            return ("MODIFIED", event.obj)
        if now:
            return ("ADDED", event.obj)
        if before:
            return ("DELETED", event.obj)
        return None

    def offer(self, event: WatchEvent) -> None:
        """Queue ``event`` if it matches; close the watcher instead of blocking when full."""
        if self.closed:
            return
        item = self.translate(event)
        if item is None:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self, error: dict | None = None) -> None:
        """End the watch: pending events are discarded and the stream finishes promptly,
        with an ERROR event carrying the ``error`` Status when one is given."""
        if self.closed:
            return
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.error = error
        self.queue.put_nowait(_CLOSE)


class WatchHub:
    """Routes store events to open watchers of the same resource."""

    def __init__(self, store: Store, queue_size: int = 10_000) -> None:
        self.store = store
        self.queue_size = queue_size
        self._by_resource: dict[str, set[Watcher]] = {}
        store.add_sink(self._on_event)

    def _on_event(self, event: WatchEvent) -> None:
        for w in list(self._by_resource.get(event.resource, ())):
            w.offer(event)

    def open(
        self,
        rt: ResourceType,
        namespace: str | None,
        lreqs: list[Requirement],
        freqs: list[tuple[str, str, str]],
        since_rv: int | None,
    ) -> Watcher:
        """Register a watcher and queue its initial events.

        With ``since_rv`` None every current matching object is queued as ADDED; otherwise
        the history after ``since_rv`` is replayed (410 ApiError if it is too old). Both
        happen synchronously with registration, so no change can fall in between.
        """
        if since_rv is not None:
            backlog = self.store.events_since(since_rv)
        w = Watcher(rt, namespace, lreqs, freqs, max(self.queue_size, 1))
        if since_rv is None:
            initial = list(self.store.select(rt.key, namespace=w.namespace))
            # Initial state may exceed the live queue bound; grow the queue to hold it.
            w.queue = asyncio.Queue(self.queue_size + len(initial))
            for obj in initial:
                if w.matches(obj):
                    w.queue.put_nowait(("ADDED", obj))
        else:
            w.queue = asyncio.Queue(self.queue_size + len(backlog))
            for ev in backlog:
                if ev.resource == rt.key:
                    w.offer(ev)
        self._by_resource.setdefault(rt.key, set()).add(w)
        return w

    def release(self, w: Watcher) -> None:
        """Unregister a watcher (its stream ended)."""
        ws = self._by_resource.get(w.rt.key)
        if ws is not None:
            ws.discard(w)

    def drop_all(self, error: dict | None = None) -> int:
        """Close every open watch (each with an ERROR event carrying ``error``, if given);
        return how many were closed."""
        n = 0
        for ws in self._by_resource.values():
            for w in list(ws):
                w.close(error)
                n += 1
        return n

    def count(self) -> int:
        """Return how many watches are open."""
        return sum(len(ws) for ws in self._by_resource.values())


def encode_event(etype: str, obj: dict) -> bytes:
    """Return one newline-terminated watch event line."""
    return orjson.dumps({"type": etype, "object": obj}) + b"\n"


def _encode_all(items: list[tuple[str, dict]], render: Callable[[dict], dict] | None) -> bytes:
    if render is not None:
        items = [(t, render(o)) for t, o in items]
    return b"".join(encode_event(t, o) for t, o in items)


async def pump(
    w: Watcher,
    write: Callable[[bytes], Awaitable[None]],
    *,
    current_rv: Callable[[], int],
    timeout: float | None,
    bookmark_interval: float | None,
    max_events: int | None,
    batch: int = 500,
    render: Callable[[dict], dict] | None = None,
) -> None:
    """Write the watcher's events until timeout, close, or ``max_events`` are sent.

    ``render`` turns each object into what the client asked for (another served version).

    Events already queued are written in batches so one client can receive tens of
    thousands of events per second. Bookmarks carry only the current resourceVersion.
    """
    loop_time = time.monotonic
    deadline = loop_time() + timeout if timeout else None
    next_bookmark = loop_time() if bookmark_interval else None

    async def bookmark() -> None:
        await write(
            encode_event(
                "BOOKMARK",
                {
                    "kind": w.rt.kind,
                    "apiVersion": w.rt.api_version,
                    "metadata": {"resourceVersion": str(current_rv())},
                },
            )
        )

    while not w.closed or not w.queue.empty():
        now = loop_time()
        if deadline is not None and now >= deadline:
            return
        if next_bookmark is not None and now >= next_bookmark and w.queue.empty():
            await bookmark()
            next_bookmark = now + (bookmark_interval or 1.0)
        waits = [t - now for t in (deadline, next_bookmark) if t is not None]
        try:
            if not w.queue.empty():
                # Take what is queued directly: wait_for with a zero time-out cancels the get
                # before it runs (Python 3.11), which would stall the stream for good.
                item = w.queue.get_nowait()
            elif waits:
                item = await asyncio.wait_for(w.queue.get(), max(0.001, min(waits)))
            else:
                item = await w.queue.get()
        except TimeoutError:
            continue
        if item is _CLOSE:
            break
        items = [item]
        while len(items) < batch and not w.queue.empty():
            nxt = w.queue.get_nowait()
            if nxt is _CLOSE:
                w.closed = True
                break
            items.append(nxt)
        if max_events is not None:
            items = items[: max(0, max_events - w.sent)]
        if items:
            await write(_encode_all(items, render))
            w.sent += len(items)
        if max_events is not None and w.sent >= max_events:
            return
    if w.error is not None:
        await write(encode_event("ERROR", w.error))
