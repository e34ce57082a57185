"""``visibility.kueue.x-k8s.io``: the pending workloads of a ClusterQueue or LocalQueue,
in queue order with their positions, as Kueue's aggregated visibility server answers.

``GET /apis/visibility.kueue.x-k8s.io/{v1beta1,v1beta2}/clusterqueues/{cq}/pendingworkloads``
and ``.../namespaces/{ns}/localqueues/{lq}/pendingworkloads`` take ``limit`` (default
1000) and ``offset``; positions count from 0.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from kubesim.errors import ApiError, bad_request
from kubesim.resources import ResourceType

GROUP = "visibility.kueue.x-k8s.io"
VERSIONS = ("v1beta2", "v1beta1")
DEFAULT_LIMIT = 1000
MAX_LIMIT = 4000
_NOT_FOUND = "the server could not find the requested resource"


def resource_types() -> tuple[ResourceType, ...]:
    """Return the visibility API's resources, for discovery."""
    common = {"verbs": ("get",), "name_rule": "", "subresources": ("pendingworkloads",)}
    return (
        ResourceType(
            GROUP,
            VERSIONS[0],
            "clusterqueues",
            "clusterqueue",
            "ClusterQueue",
            False,
            versions=VERSIONS,
            **common,
        ),
        ResourceType(
            GROUP,
            VERSIONS[0],
            "localqueues",
            "localqueue",
            "LocalQueue",
            True,
            versions=VERSIONS,
            **common,
        ),
    )


def api_services() -> list[dict[str, Any]]:
    """Return the APIService objects that register the visibility server."""
    return [
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": f"{version}.{GROUP}"},
            "spec": {
                "group": GROUP,
                "version": version,
                "groupPriorityMinimum": 100,
                "versionPriority": 100 - i,
                "service": {"name": "kueue-visibility-server", "namespace": "kueue-system"},
                "insecureSkipTLSVerify": True,
            },
            "status": {
                "conditions": [
                    {
                        "type": "Available",
                        "status": "True",
                        "reason": "Passed",
                        "message": "all checks passed",
                    }
                ]
            },
        }
        for i, version in enumerate(VERSIONS)
    ]


def _walk(ctrl: Any, cq: str) -> Iterator[tuple[int, Any]]:
    """Yield (position, entry) of a ClusterQueue's pending workloads in queue order."""
    queue = ctrl.quotas.queues[cq]
    merged = heapq.merge(*queue.pending.values())
    for position, (_order, key) in enumerate(merged):
        entry = ctrl.entries.get(key)
        if entry is not None:
            yield position, entry


def _item(entry: Any, in_cq: int, in_lq: int) -> dict[str, Any]:
    refs = []
    if entry.job:
        refs.append(
            {"apiVersion": "batch/v1", "kind": "Job", "name": entry.job, "uid": entry.job_uid}
        )
    meta = {
        "name": entry.key[1],
        "namespace": entry.key[0],
        "creationTimestamp": entry.created,
    }
    if refs:
        meta["ownerReferences"] = refs
    return {
        "metadata": meta,
        "priority": entry.priority,
        "localQueueName": entry.queue_name,
        "positionInClusterQueue": in_cq,
        "positionInLocalQueue": in_lq,
    }


def _window(query: Any) -> tuple[int, int]:
    try:
        limit = int(query.get("limit") or DEFAULT_LIMIT)
        offset = int(query.get("offset") or 0)
    except ValueError as exc:
        raise bad_request("limit and offset must be integers") from exc
    return min(max(limit, 0), MAX_LIMIT), max(offset, 0)


def pending_in_cluster_queue(ctrl: Any, cq: str, query: Any) -> list[dict[str, Any]]:
    """Return the items for one ClusterQueue (404 when it does not exist)."""
    if cq not in ctrl.quotas.queues:
        raise ApiError(404, "NotFound", f'clusterqueues.{GROUP} "{cq}" not found')
    limit, offset = _window(query)
    in_lq: dict[tuple[str, str], int] = {}
    items = []
    for position, entry in _walk(ctrl, cq):
        if position >= offset + limit:
            break
        mine = in_lq.get(entry.lq, 0)
        in_lq[entry.lq] = mine + 1
        if position >= offset:
            items.append(_item(entry, position, mine))
    return items


def pending_in_local_queue(ctrl: Any, namespace: str, lq: str, query: Any) -> list[dict]:
    """Return the items for one LocalQueue (404 when it does not exist)."""
    cq = ctrl.lqs.get((namespace, lq))
    if cq is None:
        raise ApiError(404, "NotFound", f'localqueues.{GROUP} "{lq}" not found')
    if cq not in ctrl.quotas.queues:
        return []
    limit, offset = _window(query)
    items: list[dict[str, Any]] = []
    mine = 0
    for position, entry in _walk(ctrl, cq):
        if entry.lq != (namespace, lq):
            continue
        if mine >= offset + limit:
            break
        if mine >= offset:
            items.append(_item(entry, position, mine))
        mine += 1
    return items


def answer(ctrl: Any, method: str, version: str, rest: list[str], query: Any) -> dict:
    """Return the PendingWorkloadsSummary for the path after the group version."""
    if method not in ("GET", "HEAD"):
        raise ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    if len(rest) == 3 and rest[0] == "clusterqueues" and rest[2] == "pendingworkloads":
        items = pending_in_cluster_queue(ctrl, rest[1], query)
    elif (
        len(rest) == 5
        and rest[0] == "namespaces"
        and rest[2] == "localqueues"
        and rest[4] == "pendingworkloads"
    ):
        items = pending_in_local_queue(ctrl, rest[1], rest[3], query)
    else:
        raise ApiError(404, "NotFound", _NOT_FOUND)
    return {
        "kind": "PendingWorkloadsSummary",
        "apiVersion": f"{GROUP}/{version}",
        "metadata": {"creationTimestamp": None},
        "items": items,
    }


def attributes(rest: list[str]) -> tuple[str, str, str]:
    """Return (namespace, resource, name) a visibility request reads, for RBAC."""
    if len(rest) >= 4 and rest[0] == "namespaces":
        return rest[1], rest[2], rest[3]
    return "", rest[0] if rest else "", rest[1] if len(rest) > 1 else ""
