"""The latest objects of one kind in one cluster, and the events that change them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Event:
    """One change of one object: ``type`` is ADDED, MODIFIED or DELETED."""

    kind: str
    type: str
    key: str
    obj: dict
    attempt: int = 0
    received: float = 0.0  # time.monotonic() when the reader got it (lag metrics)


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
            elif resource_version(old) != resource_version(obj):
                changes.append(("MODIFIED", key, obj))
            else:
                continue
            self.put(key, obj)
        return changes


def resource_version(obj: dict) -> str:
    """The object's resourceVersion ("" when it has none)."""
    return (obj.get("metadata") or {}).get("resourceVersion", "")
