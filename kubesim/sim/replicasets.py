"""The simulated ReplicaSet controller (apps/v1): keeps spec.replicas pods alive."""

from __future__ import annotations

import copy
import logging
from typing import Any

from .events import EventRecorder
from .informer import Cluster, Controller, Key
from .util import (
    controller_uid,
    get_condition,
    owner_reference,
    pod_is_ready,
    rand_suffix,
    seconds_since,
)

log = logging.getLogger(__name__)

COMPONENT = "replicaset-controller"
BURST = 500  # pods created or deleted per reconcile, like the real controller's slow start cap


def is_active(pod: dict[str, Any]) -> bool:
    """Return True for pods that count toward replicas (not terminal, not being deleted)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def is_available(pod: dict[str, Any], min_ready_seconds: int, speed: float, now: float) -> bool:
    """Return True when the pod has been Ready for at least minReadySeconds (simulated)."""
    if not pod_is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    cond = get_condition(pod, "Ready") or {}
    return seconds_since(cond.get("lastTransitionTime")) * speed >= min_ready_seconds


def _deletion_rank(pod: dict[str, Any]) -> tuple[int, int, int, str]:
    # Delete unscheduled before scheduled, pending before running, unready before ready,
    # and newer before older, as the ReplicaSet controller prefers.
    status = pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase") or "", 0)
    created = pod["metadata"].get("creationTimestamp") or ""
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        phase_rank,
        1 if pod_is_ready(pod) else 0,
        "".join(chr(255 - ord(ch)) for ch in created),
    )


class ReplicaSetController(Controller):
    """Reconciles ReplicaSets: creates/deletes pods and maintains the status counters."""

    name = "replicaset-controller"
    resource, kind, api_version = "replicasets.apps", "ReplicaSet", "apps/v1"

    def __init__(self, store: Any, cluster: Cluster, recorder: EventRecorder, speed: float):
        super().__init__()
        self._store = store
        self._cluster = cluster
        self._events = recorder
        self._speed = speed
        cluster.subscribe(self.resource, self._on_rs)
        cluster.subscribe("pods", self._on_pod)

    def _on_rs(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if event_type != "DELETED":
            meta = obj.get("metadata") or {}
            self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    def _on_pod(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == self.kind:
                self.enqueue(((obj.get("metadata") or {}).get("namespace") or "", ref["name"]))

    def reconcile(self, key: Key) -> None:
        """Create or delete pods toward spec.replicas, then write status."""
        rs = self._cluster.objects[self.resource].get(key)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        uid = rs["metadata"].get("uid", "")
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        pods = [p for p in self._cluster.owned_by("pods", uid) if controller_uid(p) == uid]
        active = [p for p in pods if is_active(p)]
        diff = want - len(active)
        if diff > 0:
            for _ in range(min(diff, BURST)):
                self._create_pod(rs)
        elif diff < 0:
            for pod in sorted(active, key=_deletion_rank)[: min(-diff, BURST)]:
                self._delete_pod(rs, pod)
        if abs(diff) > BURST:
            self.enqueue(key)
        self._write_status(key, rs)

    def _write_status(self, key: Key, rs: dict[str, Any]) -> None:
        uid = rs["metadata"].get("uid", "")
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        pods = [p for p in self._cluster.owned_by("pods", uid) if is_active(p)]
        now = self._loop.time()
        ready = sum(1 for p in pods if pod_is_ready(p))
        available = sum(1 for p in pods if is_available(p, min_ready, self._speed, now))
        if min_ready and ready > available:
            self.enqueue_after(key, min_ready / self._speed)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        labelled = sum(
            1
            for p in pods
            if all(
                (p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items()
            )
        )
        old = rs.get("status") or {}
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": labelled,
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        if any(old.get(k) != v for k, v in status.items()):
            self._store.patch(
                self.resource,
                key[1],
                {"status": status},
                namespace=key[0],
                subresource="status",
            )

    def _create_pod(self, rs: dict[str, Any]) -> None:
        meta = rs["metadata"]
        namespace = meta.get("namespace") or "default"
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        pod_meta = template.setdefault("metadata", {})
        pod_meta.pop("name", None)
        pod_meta["generateName"] = f"{meta['name']}-"
        pod_meta["namespace"] = namespace
        pod_meta["ownerReferences"] = [owner_reference(rs, self.api_version, self.kind)]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": pod_meta,
            "spec": template.get("spec") or {},
        }
        for _ in range(5):
            pod_meta["name"] = f"{meta['name']}-{rand_suffix()}"
            try:
                self._store.create("pods", pod, namespace=namespace)
            except Exception as exc:
                if getattr(exc, "code", None) == 409:
                    continue
                self._events.record(
                    rs, self.kind, "Warning", "FailedCreate", f"Error creating: {exc}", COMPONENT
                )
                return
            self._events.record(
                rs,
                self.kind,
                "Normal",
                "SuccessfulCreate",
                f"Created pod: {pod_meta['name']}",
                COMPONENT,
            )
            return

    def _delete_pod(self, rs: dict[str, Any], pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        try:
            self._store.delete("pods", name, namespace=pod["metadata"].get("namespace"))
        except Exception as exc:
            log.debug("delete pod %s failed: %s", name, exc)
            return
        self._events.record(
            rs, self.kind, "Normal", "SuccessfulDelete", f"Deleted pod: {name}", COMPONENT
        )


class ReplicationControllerController(ReplicaSetController):
    """ReplicationControllers (v1): a ReplicaSet with an equality-only selector."""

    name = "replication-controller"
    resource, kind, api_version = "replicationcontrollers", "ReplicationController", "v1"
