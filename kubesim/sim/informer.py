"""Shared informer caches fed by store events, and the work-queue base class for controllers.

Store listeners run synchronously inside store writes, so they only update the read-only
caches here and enqueue keys; each controller's own asyncio task does the writes later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from typing import Any

from .util import controller_uid, obj_key

log = logging.getLogger(__name__)

Key = tuple[str, str]
Handler = Callable[[str, dict[str, Any], dict[str, Any] | None], None]

WATCHED = (
    "nodes",
    "pods",
    "jobs.batch",
    "replicasets.apps",
    "deployments.apps",
    "replicationcontrollers",
    "daemonsets.apps",
    "statefulsets.apps",
    "cronjobs.batch",
    "services",
    "persistentvolumeclaims",
    "horizontalpodautoscalers.autoscaling",
)


class Cluster:
    """Read-only caches of the objects controllers care about, with owner indexes.

    Cached dicts are the store's event objects: never mutate them, copy first.
    """

    def __init__(self) -> None:
        self.objects: dict[str, dict[Key, dict[str, Any]]] = {r: {} for r in WATCHED}
        # controller owner uid -> keys of owned objects, for pods, replicasets and jobs
        owned = ("pods", "replicasets.apps", "jobs.batch")
        self.owned: dict[str, dict[str, set[Key]]] = {r: {} for r in owned}
        self._owner_of: dict[str, dict[Key, str]] = {r: {} for r in owned}
        self._handlers: dict[str, list[Handler]] = {r: [] for r in WATCHED}

    @property
    def pods(self) -> dict[Key, dict[str, Any]]:
        """Return the pod cache keyed by (namespace, name)."""
        return self.objects["pods"]

    def subscribe(self, resource: str, handler: Handler) -> None:
        """Call `handler(event_type, obj, old)` after the cache has absorbed each event."""
        self._handlers[resource].append(handler)

    def owned_by(self, resource: str, uid: str) -> list[dict[str, Any]]:
        """Return cached objects of `resource` whose controller owner has `uid`."""
        cache = self.objects[resource]
        keys = self.owned[resource].get(uid, ())
        return [cache[k] for k in keys if k in cache]

    def prime(self, resource: str, items: list[dict[str, Any]]) -> None:
        """Load the initial list of `resource` as ADDED events."""
        for obj in items:
            self.on_event("ADDED", resource, obj)

    def on_event(self, event_type: str, resource: str, obj: dict[str, Any]) -> None:
        """Store listener: update the cache and indexes, then notify subscribers."""
        cache = self.objects.get(resource)
        if cache is None:
            return
        key = obj_key(obj)
        old = cache.get(key)
        if event_type == "DELETED":
            # Ignore a stale delete of an object that was recreated under the same name.
            if old is not None and _uid(old) == _uid(obj):
                del cache[key]
            self._unindex(resource, key)
        else:
            cache[key] = obj
            self._index(resource, key, obj)
        for handler in self._handlers[resource]:
            try:
                handler(event_type, obj, old)
            except Exception:  # a buggy handler must not break the store's write path
                log.exception("handler for %s %s failed", event_type, resource)

    def _index(self, resource: str, key: Key, obj: dict[str, Any]) -> None:
        owners = self._owner_of.get(resource)
        if owners is None:
            return
        uid = controller_uid(obj)
        previous = owners.get(key)
        if previous == uid:
            return
        if previous is not None:
            self.owned[resource].get(previous, set()).discard(key)
        if uid is None:
            owners.pop(key, None)
        else:
            owners[key] = uid
            self.owned[resource].setdefault(uid, set()).add(key)

    def _unindex(self, resource: str, key: Key) -> None:
        owners = self._owner_of.get(resource)
        if owners is None:
            return
        uid = owners.pop(key, None)
        if uid is not None:
            keys = self.owned[resource].get(uid)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.owned[resource][uid]


def _uid(obj: dict[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("uid")


class Controller:
    """A level-triggered controller: keys are marked dirty and reconciled by one task.

    Subclasses implement `reconcile(key)`, which must be idempotent.  Reconciles run in
    insertion order, and the loop yields to the event loop every `batch` keys so that the
    HTTP server stays responsive under load.
    """

    name = "controller"
    batch = 256

    def __init__(self) -> None:
        self._dirty: dict[Hashable, None] = {}
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}

    def enqueue(self, key: Hashable) -> None:
        """Mark `key` for reconciliation (cheap, safe inside store listeners)."""
        self._dirty[key] = None
        self._wake.set()

    def enqueue_after(self, key: Hashable, delay: float) -> None:
        """Reconcile `key` after `delay` seconds; an earlier pending timer for it wins."""
        existing = self._timers.get(key)
        due = self._loop.time() + max(delay, 0.0)
        if existing is not None and not existing.cancelled() and existing.when() <= due:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = self._loop.call_at(due, self._fire, key)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    def reconcile(self, key: Any) -> None:  # pragma: no cover - abstract
        """Bring the world in line with the desired state for `key`."""
        raise NotImplementedError

    async def run(self) -> None:
        """Process dirty keys forever (until cancelled)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            done = 0
            while self._dirty:
                key = next(iter(self._dirty))
                del self._dirty[key]
                try:
                    self.reconcile(key)
                except Exception:
                    log.exception("%s: reconcile %r failed; retrying later", self.name, key)
                    self.enqueue_after(key, 1.0)
                done += 1
                if done % self.batch == 0:
                    await asyncio.sleep(0)

    def close(self) -> None:
        """Cancel pending delayed reconciles."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
