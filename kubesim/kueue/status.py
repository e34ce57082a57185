"""The statuses Kueue writes: a Workload's admission, ClusterQueue and LocalQueue status."""

from __future__ import annotations

from typing import Any

from .crds import GROUP
from .quota import FR, quantity
from .webhooks import FINALIZER
from .workloads import Entry, podset_requests, set_condition

CQS = f"clusterqueues.{GROUP}"
LQS = f"localqueues.{GROUP}"


def admission(cq: str, entry: Entry, flavors: dict[str, str]) -> dict[str, Any]:
    """Return ``status.admission`` for a workload given the flavor of each resource."""
    assignments = []
    for podset in entry.podsets:
        requests = podset_requests([podset])
        assignments.append(
            {
                "name": podset.get("name", "main"),
                "flavors": {r: flavors[r] for r in requests if r in flavors},
                "resourceUsage": {r: quantity(r, v) for r, v in requests.items() if r in flavors},
                "count": int(podset.get("count", 1) or 0),
            }
        )
    return {"clusterQueue": cq, "podSetAssignments": assignments}


def _flavor_usage(queue: Any, quotas: Any, borrowed: bool) -> list[dict[str, Any]]:
    out = []
    for group in queue.groups:
        for flavor, _quota in group.flavors:
            resources = []
            for resource in group.covered:
                fr: FR = (flavor, resource)
                row = {"name": resource, "total": quantity(resource, queue.usage.get(fr, 0))}
                if borrowed:
                    row["borrowed"] = quantity(resource, quotas.borrowed(queue, fr))
                resources.append(row)
            out.append({"name": flavor, "resources": resources})
    return out


def _update(ctrl: Any, resource: str, obj: dict, status: dict) -> None:
    if status != obj.get("status"):
        ctrl.store.update(resource, {**obj, "status": status}, subresource="status")


def write_cluster_queue(ctrl: Any, name: str) -> None:
    """Write a ClusterQueue's status: usage per flavor, workload counts, Active."""
    obj = ctrl.store.peek(CQS, name)
    queue = ctrl.quotas.queues.get(name)
    if obj is None or queue is None:
        return
    status = dict(obj.get("status") or {})
    conditions = [dict(c) for c in status.get("conditions") or ()]
    missing = sorted({f for f in queue.flavor_names() if f not in ctrl.flavors})
    if queue.terminating:
        set_condition(
            conditions,
            "Active",
            "False",
            "Terminating",
            "Can't admit new workloads; clusterQueue is terminating",
            obj["metadata"].get("generation", 1),
        )
    elif missing:
        set_condition(
            conditions,
            "Active",
            "False",
            "FlavorNotFound",
            f"Can't admit new workloads: references missing ResourceFlavor(s): {','.join(missing)}.",
            obj["metadata"].get("generation", 1),
        )
    elif queue.stopped:
        set_condition(
            conditions,
            "Active",
            "False",
            "Stopped",
            "Can't admit new workloads: is stopped.",
            obj["metadata"].get("generation", 1),
        )
    else:
        set_condition(
            conditions,
            "Active",
            "True",
            "Ready",
            "Can admit new workloads",
            obj["metadata"].get("generation", 1),
        )
    reserving = len(queue.admitted)
    status.update(
        conditions=conditions,
        flavorsReservation=_flavor_usage(queue, ctrl.quotas, True),
        flavorsUsage=_flavor_usage(queue, ctrl.quotas, True),
        pendingWorkloads=queue.pending_count(),
        reservingWorkloads=reserving,
        admittedWorkloads=reserving,
    )
    _update(ctrl, CQS, obj, status)
    if queue.terminating and not queue.admitted:
        release_finalizer(ctrl, obj)


def release_finalizer(ctrl: Any, obj: dict) -> None:
    """Let a deleted ClusterQueue go once no workload holds its quota."""
    finalizers = obj["metadata"].get("finalizers") or []
    if FINALIZER in finalizers:
        rest = [f for f in finalizers if f != FINALIZER]
        ctrl.store.patch(CQS, obj["metadata"]["name"], {"metadata": {"finalizers": rest}})


def write_local_queue(ctrl: Any, key: tuple[str, str]) -> None:
    """Write a LocalQueue's status: its workloads' counts and usage, Active."""
    obj = ctrl.store.peek(LQS, key[1], namespace=key[0])
    if obj is None:
        return
    cq = ctrl.lqs.get(key)
    queue = ctrl.quotas.queues.get(cq or "")
    status = dict(obj.get("status") or {})
    conditions = [dict(c) for c in status.get("conditions") or ()]
    gen = obj["metadata"].get("generation", 1)
    if queue is None:
        set_condition(
            conditions,
            "Active",
            "False",
            "ClusterQueueDoesNotExist",
            "Can't submit new workloads to clusterQueue",
            gen,
        )
    else:
        set_condition(
            conditions, "Active", "True", "Ready", "Can submit new workloads to localQueue", gen
        )
    counts = ctrl.lq_counts.get(key, {})
    pending = counts.get("pending", 0) + counts.get("waiting", 0)
    reserving = counts.get("admitted", 0) + counts.get("evicting", 0)
    usage = ctrl.lq_usage.get(key, {})
    flavors = []
    for group in queue.groups if queue else ():
        for flavor, _quota in group.flavors:
            flavors.append(
                {
                    "name": flavor,
                    "resources": [
                        {"name": r, "total": quantity(r, usage.get((flavor, r), 0))}
                        for r in group.covered
                    ],
                }
            )
    status.update(
        conditions=conditions,
        pendingWorkloads=pending,
        reservingWorkloads=reserving,
        admittedWorkloads=reserving,
        flavorsReservation=flavors,
        flavorsUsage=flavors,
    )
    _update(ctrl, LQS, obj, status)
