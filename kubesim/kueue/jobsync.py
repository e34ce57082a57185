"""Kueue's batch/v1 Job integration: the webhook that suspends queued Jobs, and the
placement written into a Job's pod template on admission (and taken back on eviction)."""

from __future__ import annotations

import copy
from typing import Any

from .workloads import PRIORITY_LABEL, QUEUE_LABEL, WORKLOADS, workload_for_job

COMPONENT = "kueue-admission"


def suspend_new_job(job: dict[str, Any], old: dict[str, Any] | None, _namespace: str) -> None:
    """Mutating webhook: a new Job that names a queue starts suspended."""
    if old is not None:
        return
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


def _editable(job: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Return (job, spec, pod spec) copied along that path only (the rest is shared with
    the stored snapshot, which the store copies on update)."""
    spec = dict(job.get("spec") or {})
    template = dict(spec.get("template") or {})
    pod = dict(template.get("spec") or {})
    template["spec"] = pod
    spec["template"] = template
    return {**job, "spec": spec}, spec, pod


def started(job: dict[str, Any], flavors: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the Job unsuspended, its pod template carrying the assigned flavors' node
    labels (as nodeSelector) and tolerations."""
    out, spec, pod = _editable(job)
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
    out, spec, pod = _editable(job)
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


def _pod_priority(store: Any, job: dict[str, Any]) -> tuple[int, str, str]:
    """Return (priority, class name, kind) from the pods' PriorityClass: Kueue's fallback
    without a WorkloadPriorityClass (0 and no class when the pods name none, or a
    missing one)."""
    pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    name = pod.get("priorityClassName") or ""
    found = store.peek("priorityclasses.scheduling.k8s.io", name) if name else None
    if found is None:
        return 0, "", "PriorityClass"
    return int(found.get("value") or 0), name, "PriorityClass"


def create_workload(ctrl: Any, job: dict[str, Any]) -> None:
    """Create the Workload of a queued Job (an event and a retry when its priority class
    is missing)."""
    meta = job["metadata"]
    wpc = (meta.get("labels") or {}).get(PRIORITY_LABEL, "")
    if wpc and wpc not in ctrl.priorities:
        ctrl.events.record(
            job,
            "Job",
            "Warning",
            "ErrorCreatingWorkload",
            f'workloadPriorityClass.kueue.x-k8s.io "{wpc}" not found',
            COMPONENT,
        )
        ctrl.enqueue_after(("job", meta.get("namespace", ""), meta["name"]), 1.0)
        return
    if wpc:
        body = workload_for_job(job, ctrl.priorities[wpc], wpc)
    else:
        body = workload_for_job(job, *_pod_priority(ctrl.store, job))
    created = ctrl.store.create(WORKLOADS, body, namespace=meta.get("namespace"))
    ctrl.events.record(
        job,
        "Job",
        "Normal",
        "CreatedWorkload",
        f"Created Workload: {meta.get('namespace')}/{created['metadata']['name']}",
        COMPONENT,
    )
