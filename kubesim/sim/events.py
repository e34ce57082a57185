"""Recording core/v1 Events the way Kubernetes components do.

Identical events (same object, type, reason, message, component) are not duplicated: the
existing Event's count and lastTimestamp are bumped instead, as the client-go recorder does.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from .util import now_iso

log = logging.getLogger(__name__)

# Bounded memory for the dedup index; oldest entries are forgotten first.
_MAX_TRACKED = 200_000


class _EventStore(Protocol):
    def create(self, resource: str, obj: dict, *, namespace: str | None = None) -> dict: ...

    def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: str = ...,
        subresource: str | None = None,
    ) -> dict: ...


_API_VERSIONS = {
    "Pod": "v1",
    "Node": "v1",
    "Job": "batch/v1",
    "ReplicaSet": "apps/v1",
    "Deployment": "apps/v1",
    "Workload": "kueue.x-k8s.io/v1beta2",
}


class EventRecorder:
    """Writes Events to the store; all methods swallow store errors (events are best effort)."""

    def __init__(self, store: _EventStore, *, enabled: bool = True) -> None:
        self._store = store
        self.enabled = enabled
        self._seen: dict[tuple[str, ...], tuple[str, str, int]] = {}
        self._serial = 0

    def record(
        self,
        obj: dict[str, Any],
        kind: str,
        etype: str,
        reason: str,
        message: str,
        component: str,
        *,
        host: str | None = None,
        field_path: str | None = None,
    ) -> None:
        """Record one occurrence of an event about `obj` (a dict with metadata)."""
        if not self.enabled:
            return
        meta = obj.get("metadata") or {}
        name = meta.get("name", "")
        namespace = meta.get("namespace") or "default"
        uid = meta.get("uid", "")
        key = (uid, namespace, name, etype, reason, message, component, field_path or "")
        stamp = now_iso()
        seen = self._seen.get(key)
        if seen is not None:
            event_name, event_ns, count = seen
            try:
                self._store.patch(
                    "events",
                    event_name,
                    {"count": count + 1, "lastTimestamp": stamp},
                    namespace=event_ns,
                )
                self._seen[key] = (event_name, event_ns, count + 1)
                return
            except Exception:  # deleted meanwhile (TTL, namespace gone): start afresh
                del self._seen[key]
        # Name like client-go: "<object>.<hex of a nanosecond clock>", kept unique by a serial.
        self._serial += 1
        event_name = f"{name}.{time.time_ns() + self._serial:x}"
        involved: dict[str, Any] = {
            "kind": kind,
            "namespace": meta.get("namespace") or "",
            "name": name,
            "uid": uid,
            "apiVersion": _API_VERSIONS.get(kind, "v1"),
        }
        if meta.get("resourceVersion"):
            involved["resourceVersion"] = meta["resourceVersion"]
        if field_path:
            involved["fieldPath"] = field_path
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event_name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": etype,
            "source": {"component": component, **({"host": host} if host else {})},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": host or component,
        }
        try:
            self._store.create("events", event, namespace=namespace)
        except Exception as exc:  # e.g. namespace terminating; events are best effort
            log.debug("event %s/%s dropped: %s", namespace, event_name, exc)
            return
        if len(self._seen) >= _MAX_TRACKED:
            self._seen.pop(next(iter(self._seen)))
        self._seen[key] = (event_name, namespace, 1)
