"""The simulated default-scheduler: binds pending pods to nodes.

Scaling notes (5,000 nodes / 150,000 pods): per-node requested resources are kept in an
accounting cache updated from pod events, never recomputed by scanning pods.  Nodes with the
same labels (hostname aside), taints and unschedulable flag form a group whose non-resource
filters are evaluated once per pod.  A failed scheduling attempt is cached by the pod's
scheduling signature until capacity is freed or nodes change (an "epoch"), so thousands of
identical pending pods cost one diagnosis.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .events import EventRecorder
from .informer import Cluster, Controller, Key
from .predicates import fit_error_message, fits, resource_failures, static_failure, uses_label
from .resources import PODS, Resources, parse_resource_list, pod_requests
from .util import now_iso, pod_is_terminal

log = logging.getLogger(__name__)

HOSTNAME = "kubernetes.io/hostname"
COMPONENT = "default-scheduler"


@dataclass
class NodeState:
    """What the scheduler knows about one node."""

    name: str
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    unschedulable: bool
    allocatable: Resources
    requested: Resources = field(default_factory=dict)
    group_key: str = ""

    def __post_init__(self) -> None:
        # Nodes sharing this key filter identically for pods that ignore the hostname.
        labels = {k: v for k, v in self.labels.items() if k != HOSTNAME}
        self.group_key = json.dumps([labels, self.taints, self.unschedulable], sort_keys=True)


class _Group:
    """Nodes with one group key; the ordered view is rebuilt lazily after changes."""

    def __init__(self) -> None:
        self.members: dict[str, NodeState] = {}
        self._ordered: list[NodeState] | None = None
        self.cursor = 0

    @property
    def nodes(self) -> list[NodeState]:
        if self._ordered is None:
            self._ordered = sorted(self.members.values(), key=lambda n: _natural(n.name))
        return self._ordered

    def put(self, node: NodeState) -> None:
        self.members[node.name] = node
        self._ordered = None

    def drop(self, name: str) -> None:
        if self.members.pop(name, None) is not None:
            self._ordered = None


def node_state(node: dict[str, Any]) -> NodeState:
    """Return a NodeState (with empty requested) for a Node object."""
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    return NodeState(
        name=meta.get("name", ""),
        labels=dict(meta.get("labels") or {}),
        taints=list(spec.get("taints") or []),
        unschedulable=bool(spec.get("unschedulable")),
        allocatable=parse_resource_list(status.get("allocatable") or status.get("capacity")),
    )


class Scheduler(Controller):
    """Binds pods whose spec.schedulerName is default-scheduler (or unset)."""

    name = "scheduler"

    def __init__(self, store: Any, cluster: Cluster, recorder: EventRecorder, speed: float):
        super().__init__()
        self._store = store
        self._cluster = cluster
        self._events = recorder
        self._speed = speed
        self.nodes: dict[str, NodeState] = {}
        self._groups: dict[str, _Group] = {}
        self._group_order: list[str] = []
        self._group_cursor = 0
        self._bound: dict[Key, tuple[str, Resources]] = {}
        self._unschedulable: dict[Key, int] = {}  # key -> failed attempts
        self._failures: dict[str, tuple[int, str]] = {}  # signature -> (epoch, message)
        self._epoch = 0
        self._retry_pending = False
        self.bound_total = 0
        cluster.subscribe("nodes", self._on_node)
        cluster.subscribe("pods", self._on_pod)

    # ----- informer handlers (no store writes here) -----

    def _on_node(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        name = (obj.get("metadata") or {}).get("name", "")
        current = self.nodes.get(name)
        if event_type == "DELETED":
            if current is not None:
                del self.nodes[name]
                self._ungroup(current)
                self._capacity_changed()
            return
        fresh = node_state(obj)
        if current is not None:
            if (fresh.labels, fresh.taints, fresh.unschedulable, fresh.allocatable) == (
                current.labels,
                current.taints,
                current.unschedulable,
                current.allocatable,
            ):
                return  # a heartbeat: nothing the scheduler cares about
            fresh.requested = current.requested
            self._ungroup(current)
        self.nodes[name] = fresh
        group = self._groups.get(fresh.group_key)
        if group is None:
            group = self._groups[fresh.group_key] = _Group()
            self._group_order.append(fresh.group_key)
        group.put(fresh)
        self._capacity_changed()

    def _on_pod(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        node = (obj.get("spec") or {}).get("nodeName")
        if event_type == "DELETED" or pod_is_terminal(obj):
            self._unschedulable.pop(key, None)
            self._release(key)
            return
        if node:
            self._unschedulable.pop(key, None)
            self._account(key, node, obj)
            return
        if meta.get("deletionTimestamp"):
            return
        scheduler = (obj.get("spec") or {}).get("schedulerName") or COMPONENT
        if scheduler != COMPONENT:
            return
        if event_type == "ADDED" or key not in self._unschedulable:
            self.enqueue(key)

    def _account(self, key: Key, node_name: str, pod: dict[str, Any]) -> None:
        if key in self._bound:
            return
        requests = pod_requests(pod)
        self._bound[key] = (node_name, requests)
        node = self.nodes.get(node_name)
        if node is not None:
            for name, qty in requests.items():
                node.requested[name] = node.requested.get(name, 0) + qty

    def _release(self, key: Key) -> None:
        entry = self._bound.pop(key, None)
        if entry is None:
            return
        node_name, requests = entry
        node = self.nodes.get(node_name)
        if node is not None:
            for name, qty in requests.items():
                node.requested[name] = node.requested.get(name, 0) - qty
        self._capacity_changed()

    def _capacity_changed(self) -> None:
        # Capacity may have grown: cached failures are stale and pending pods deserve a retry.
        self._epoch += 1
        if self._unschedulable and not self._retry_pending:
            self._retry_pending = True
            self._loop.call_later(max(0.05, 0.5 / self._speed), self._retry_unschedulable)

    def _retry_unschedulable(self) -> None:
        self._retry_pending = False
        for key in list(self._unschedulable):
            self.enqueue(key)

    def _ungroup(self, node: NodeState) -> None:
        group = self._groups.get(node.group_key)
        if group is None:
            return
        group.drop(node.name)
        if not group.members:
            del self._groups[node.group_key]
            self._group_order.remove(node.group_key)

    # ----- reconcile: one scheduling attempt -----

    def reconcile(self, key: Key) -> None:
        """Try to bind pod `key`; on failure mark it unschedulable with Kubernetes' message."""
        pod = self._cluster.pods.get(key)
        if pod is None or pod_is_terminal(pod) or key in self._bound:
            self._unschedulable.pop(key, None)
            return
        spec = pod.get("spec") or {}
        if spec.get("nodeName") or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        requests = pod_requests(pod)
        signature = json.dumps(
            [spec.get("nodeSelector"), spec.get("affinity"), spec.get("tolerations"), requests],
            sort_keys=True,
        )
        cached = self._failures.get(signature)
        if cached is not None and cached[0] == self._epoch:
            self._mark_unschedulable(key, pod, cached[1])
            return
        node = self._pick_node(spec, requests)
        if node is None:
            message = self._diagnose(spec, requests)
            self._failures[signature] = (self._epoch, message)
            self._mark_unschedulable(key, pod, message)
            return
        self._bind(key, pod, node, requests)

    def _pick_node(self, spec: dict[str, Any], requests: Resources) -> NodeState | None:
        per_node = uses_label(spec, HOSTNAME)
        order = self._group_order
        if not order:
            return None
        start = self._group_cursor % len(order)
        for offset in range(len(order)):
            group = self._groups[order[(start + offset) % len(order)]]
            if not group.nodes:
                continue
            first = group.nodes[0]
            if not per_node and static_failure(
                spec, first.labels, first.taints, first.unschedulable, first.name
            ):
                continue
            count = len(group.nodes)
            for step in range(count):
                idx = (group.cursor + step) % count
                node = group.nodes[idx]
                if per_node and static_failure(
                    spec, node.labels, node.taints, node.unschedulable, node.name
                ):
                    continue
                if fits(requests, node.allocatable, node.requested):
                    # Round-robin within and across groups spreads pods like LeastAllocated.
                    group.cursor = idx + 1
                    self._group_cursor = start + offset + 1
                    return node
        return None

    def _diagnose(self, spec: dict[str, Any], requests: Resources) -> str:
        reasons: Counter[str] = Counter()
        unresolvable = 0
        per_node = uses_label(spec, HOSTNAME)
        for group in self._groups.values():
            if not group.nodes:
                continue
            first = group.nodes[0]
            group_reason = (
                None
                if per_node
                else static_failure(
                    spec, first.labels, first.taints, first.unschedulable, first.name
                )
            )
            if group_reason is not None:
                reasons[group_reason] += len(group.nodes)
                unresolvable += len(group.nodes)
                continue
            for node in group.nodes:
                reason = None
                if per_node:
                    reason = static_failure(
                        spec, node.labels, node.taints, node.unschedulable, node.name
                    )
                if reason is not None:
                    reasons[reason] += 1
                    unresolvable += 1
                    continue
                for item in resource_failures(requests, node.allocatable, node.requested):
                    reasons[item] += 1
        return fit_error_message(len(self.nodes), reasons, unresolvable)

    def _bind(self, key: Key, pod: dict[str, Any], node: NodeState, requests: Resources) -> None:
        namespace, name = key
        try:
            self._store.patch("pods", name, {"spec": {"nodeName": node.name}}, namespace=namespace)
        except Exception as exc:  # deleted or changed under us: the next event re-enqueues
            log.debug("bind %s/%s failed: %s", namespace, name, exc)
            return
        self._account(key, node.name, pod)
        self._unschedulable.pop(key, None)
        self.bound_total += 1
        conditions = [
            c
            for c in (pod.get("status") or {}).get("conditions") or []
            if c.get("type") != "PodScheduled"
        ]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": now_iso(),
            }
        )
        try:
            self._store.patch(
                "pods",
                name,
                {"status": {"conditions": conditions}},
                namespace=namespace,
                subresource="status",
            )
        except Exception as exc:
            log.debug("PodScheduled for %s/%s not written: %s", namespace, name, exc)
        self._events.record(
            pod,
            "Pod",
            "Normal",
            "Scheduled",
            f"Successfully assigned {namespace}/{name} to {node.name}",
            COMPONENT,
        )

    def _mark_unschedulable(self, key: Key, pod: dict[str, Any], message: str) -> None:
        namespace, name = key
        attempts = self._unschedulable.get(key, 0) + 1
        self._unschedulable[key] = attempts
        current = next(
            (
                c
                for c in (pod.get("status") or {}).get("conditions") or []
                if c.get("type") == "PodScheduled"
            ),
            None,
        )
        if current is not None and current.get("message") == message:
            return  # same verdict as last time: no status write, no repeated event
        conditions = [
            c
            for c in (pod.get("status") or {}).get("conditions") or []
            if c.get("type") != "PodScheduled"
        ]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": now_iso(),
            }
        )
        try:
            self._store.patch(
                "pods",
                name,
                {"status": {"phase": "Pending", "conditions": conditions}},
                namespace=namespace,
                subresource="status",
            )
        except Exception as exc:
            log.debug("unschedulable status for %s/%s not written: %s", namespace, name, exc)
            return
        self._events.record(pod, "Pod", "Warning", "FailedScheduling", message, COMPONENT)

    def free(self, node_name: str) -> Resources:
        """Return allocatable minus requested for `node_name` (for tests and tools)."""
        node = self.nodes[node_name]
        return {k: v - node.requested.get(k, 0) for k, v in node.allocatable.items()} | {
            PODS: node.allocatable.get(PODS, 0) - node.requested.get(PODS, 0)
        }


def _natural(name: str) -> tuple[str, int]:
    # cpu-2 before cpu-10, so the first pods land on <pool>-0 as people expect.
    base, _, num = name.rpartition("-")
    return (base, int(num)) if num.isdigit() else (name, -1)
