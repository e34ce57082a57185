"""Workload objects: built from batch/v1 Jobs, read into entries, their conditions.

The wording of reasons and messages is Kueue's (v0.19, with its default feature gates).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from kubesim.sim.resources import pod_requests
from kubesim.sim.util import now_iso

from .crds import GROUP
from .quota import FR

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
WORKLOADS = f"workloads.{GROUP}"
API_VERSION = f"{GROUP}/v1beta2"
_SEQ = itertools.count()

Key = tuple[str, str]


def next_seq() -> int:
    """Return a number larger than every one returned before (queue order ties)."""
    return next(_SEQ)


@dataclass(eq=False)
class Entry:
    """What the simulation keeps of one Workload."""

    key: Key
    uid: str
    queue_name: str
    priority: int
    seq: int
    podsets: list[dict[str, Any]]
    requests: dict[str, int]
    created: str
    job_uid: str = ""
    cq: str = ""
    state: str = "new"  # new | pending | admitted | evicting | finished | waiting | gone
    flavors: dict[str, str] = field(default_factory=dict)
    usage: dict[FR, int] = field(default_factory=dict)
    admitted_at: int = 0
    generation: int = 1
    shape: tuple = ()
    job: str = ""  # the owning Job's name
    evicted: str = ""  # the message of the last eviction
    placement: tuple[dict[str, str], list[dict[str, Any]]] = ({}, [])

    @property
    def order(self) -> tuple[int, int]:
        """Return the queue order: higher priority first, then earlier (re)queueing."""
        return (-self.priority, self.seq)

    @property
    def lq(self) -> Key:
        """Return the (namespace, name) of the workload's LocalQueue."""
        return (self.key[0], self.queue_name)


def podset_requests(podsets: list[dict[str, Any]]) -> dict[str, int]:
    """Return the total requests (milli-units) of every pod of every pod set."""
    total: dict[str, int] = {}
    for podset in podsets:
        template = podset.get("template") or {}
        count = int(podset.get("count", 1) or 0)
        for name, qty in pod_requests(template).items():
            amount = qty if name == "cpu" else qty * 1000
            total[name] = total.get(name, 0) + amount * count
    return total


def placement(podsets: list[dict[str, Any]]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Return the node selector and tolerations of the first pod set (what flavors must
    be compatible with)."""
    spec = ((podsets[0] if podsets else {}).get("template") or {}).get("spec") or {}
    return dict(spec.get("nodeSelector") or {}), list(spec.get("tolerations") or [])


def entry_from(obj: dict[str, Any]) -> Entry:
    """Return the entry of a Workload object (v1beta2)."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    podsets = list(spec.get("podSets") or [])
    requests = podset_requests(podsets)
    selector, tolerations = placement(podsets)
    shape = (
        tuple(sorted(requests.items())),
        tuple(sorted(selector.items())),
        tuple(sorted(str(sorted(t.items())) for t in tolerations)),
    )
    return Entry(
        key=(meta.get("namespace") or "", meta.get("name") or ""),
        uid=meta.get("uid", ""),
        queue_name=spec.get("queueName") or "",
        priority=int(spec.get("priority") or 0),
        seq=next_seq(),
        podsets=podsets,
        requests=requests,
        created=meta.get("creationTimestamp") or now_iso(),
        job_uid=(meta.get("labels") or {}).get(JOB_UID_LABEL, ""),
        generation=int(meta.get("generation") or 1),
        shape=shape,
        placement=(selector, tolerations),
    )


def workload_name(job: dict[str, Any]) -> str:
    """Return Kueue's name for a Job's Workload: ``job-<name>-<5 hex digits>``."""
    meta = job["metadata"]
    digest = hashlib.sha256(f"{meta['name']}/{meta.get('uid', '')}/batch/Job".encode()).hexdigest()
    return f"job-{meta['name'][:250]}-{digest[:5]}"


def workload_for_job(
    job: dict[str, Any], priority: int, priority_class: str, kind: str = "WorkloadPriorityClass"
) -> dict[str, Any]:
    """Return the Workload Kueue's job integration creates for a suspended Job; its
    priority comes from a WorkloadPriorityClass or (``kind`` "PriorityClass") the pods'
    PriorityClass."""
    meta, spec = job["metadata"], job.get("spec") or {}
    parallelism = spec.get("parallelism")
    count = int(parallelism if parallelism is not None else 1)
    completions = spec.get("completions")
    if completions is not None:
        count = min(count, int(completions))
    template = dict(spec.get("template") or {})
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Workload",
        "metadata": {
            "name": workload_name(job),
            "namespace": meta.get("namespace"),
            "labels": {JOB_UID_LABEL: meta.get("uid", "")},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "active": True,
            "podSets": [{"name": "main", "count": count, "template": template}],
            "queueName": (meta.get("labels") or {}).get(QUEUE_LABEL, ""),
            "priority": priority,
        },
    }
    if priority_class:
        body["spec"]["priorityClassRef"] = {
            "group": GROUP if kind == "WorkloadPriorityClass" else "scheduling.k8s.io",
            "kind": kind,
            "name": priority_class,
        }
    return body


def set_condition(
    conditions: list[dict[str, Any]],
    ctype: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
) -> bool:
    """Set a metav1.Condition in place (lastTransitionTime moves only when the status
    does); return whether anything changed."""
    for cond in conditions:
        if cond.get("type") != ctype:
            continue
        if (cond.get("status"), cond.get("reason"), cond.get("message")) == (
            status,
            reason,
            message,
        ):
            return False
        if cond.get("status") != status:
            cond["lastTransitionTime"] = now_iso()
        cond.update(status=status, reason=reason, message=message, observedGeneration=generation)
        return True
    conditions.append(
        {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": now_iso(),
        }
    )
    return True


def reset_condition(conditions: list[dict[str, Any]], ctype: str, generation: int) -> None:
    """Turn an active condition False with "Previously: ..." (Kueue's reset on a new
    quota reservation)."""
    for cond in conditions:
        if cond.get("type") == ctype and cond.get("status") == "True":
            set_condition(
                conditions,
                ctype,
                "False",
                "QuotaReserved",
                f"Previously: {cond.get('message', '')}",
                generation,
            )


def condition_true(obj: dict[str, Any], ctype: str) -> bool:
    """Return whether ``obj`` has condition ``ctype`` with status True."""
    return any(
        c.get("type") == ctype and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or ()
    )
