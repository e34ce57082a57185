"""Kueue's batch/v1 Job integration: the webhook that suspends queued Jobs, and the
placement written into a Job's pod template on admission (and taken back on eviction)."""

from __future__ import annotations

import copy
from typing import Any

from .workloads import QUEUE_LABEL


def suspend_new_job(job: dict[str, Any], _namespace: str) -> None:
    """Mutating webhook: a new Job that names a queue starts suspended."""
    labels = (job.get("metadata") or {}).get("labels") or {}
    if labels.get(QUEUE_LABEL):
        job.setdefault("spec", {})["suspend"] = True


def finished(job: dict[str, Any]) -> tuple[str, str] | None:
    """Return (reason, message) for the Workload of a finished Job, else None."""
    for cond in (job.get("status") or {}).get("conditions") or ():
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return "Succeeded", cond.get("message") or "Job finished successfully"
        if cond.get("type") == "Failed":
            return "Failed", cond.get("message") or "Job failed"
    return None


def _merge_tolerations(base: list[dict], extra: list[dict]) -> list[dict]:
    out = list(base)
    for toleration in extra:
        if toleration not in out:
            out.append(toleration)
    return out


def started(job: dict[str, Any], flavors: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the Job unsuspended, its pod template carrying the assigned flavors' node
    labels (as nodeSelector) and tolerations."""
    out = copy.deepcopy(job)
    spec = out.setdefault("spec", {})
    pod = spec.setdefault("template", {}).setdefault("spec", {})
    selector = dict(pod.get("nodeSelector") or {})
    tolerations = list(pod.get("tolerations") or [])
    for flavor in flavors:
        selector.update(flavor.get("nodeLabels") or {})
        tolerations = _merge_tolerations(tolerations, flavor.get("tolerations") or [])
    if selector:
        pod["nodeSelector"] = selector
    if tolerations:
        pod["tolerations"] = tolerations
    spec["suspend"] = False
    return out


def stopped(job: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """Return the Job suspended with the node selector and tolerations of ``original``
    (the pod template its Workload recorded)."""
    out = copy.deepcopy(job)
    spec = out.setdefault("spec", {})
    pod = spec.setdefault("template", {}).setdefault("spec", {})
    before = (original or {}).get("spec") or {}
    for field in ("nodeSelector", "tolerations"):
        if before.get(field):
            pod[field] = copy.deepcopy(before[field])
        else:
            pod.pop(field, None)
    spec["suspend"] = True
    return out


def compatible(flavor: dict[str, Any], selector: dict[str, str], tolerations: list) -> bool:
    """Return whether pods with ``selector`` and ``tolerations`` may use the flavor: no
    selector key the flavor labels differently, every NoSchedule/NoExecute taint of the
    flavor tolerated."""
    labels = flavor.get("nodeLabels") or {}
    if any(k in labels and labels[k] != v for k, v in selector.items()):
        return False
    for taint in flavor.get("nodeTaints") or ():
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            return False
    return True


def _tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration.get("key") == taint.get("key")
    return toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get(
        "value", ""
    )
