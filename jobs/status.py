"""Maps what the cluster says about a job onto the portal's statuses (pure functions).

Input: the ``batch/v1`` Job object (or None when it is gone), its pods and the
Warning events of the Job; output: (status, reason in plain words, instances).
"""

import re
from dataclasses import dataclass

from jobs.models import Status

INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


@dataclass
class InstanceView:
    index: int
    pod: str
    node: str
    phase: str
    state: str
    reason: str
    exit_code: int | None
    restarts: int


def _container_state(pod: dict) -> tuple[str, str, int | None, int]:
    """Returns (state, reason, exit code, restarts) of the pod's main container."""
    status = pod.get("status") or {}
    for init in status.get("initContainerStatuses") or []:
        waiting = (init.get("state") or {}).get("waiting")
        running = (init.get("state") or {}).get("running")
        if waiting or running:
            return (
                "initializing",
                (waiting or {}).get("reason", f"running {init.get('name')}"),
                None,
                0,
            )
    containers = status.get("containerStatuses") or []
    main = next(
        (c for c in containers if c.get("name") == "main"), containers[0] if containers else None
    )
    if main is None:
        return "pending", "", None, 0
    state = main.get("state") or {}
    restarts = main.get("restartCount", 0)
    if "terminated" in state:
        term = state["terminated"]
        return "terminated", term.get("reason", ""), term.get("exitCode"), restarts
    if "running" in state:
        return "running", "", None, restarts
    waiting = state.get("waiting") or {}
    return "waiting", waiting.get("reason", ""), None, restarts


def instances(pods: list[dict]) -> list[InstanceView]:
    """One view per instance index: the newest pod of each index."""
    chosen: dict[int, dict] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        index = int((meta.get("annotations") or {}).get(INDEX_ANNOTATION, 0))
        current = chosen.get(index)
        if current is None or meta.get("creationTimestamp", "") >= current["metadata"].get(
            "creationTimestamp", ""
        ):
            chosen[index] = pod
    views = []
    for index, pod in sorted(chosen.items()):
        state, reason, code, restarts = _container_state(pod)
        views.append(
            InstanceView(
                index=index,
                pod=pod["metadata"]["name"],
                node=(pod.get("spec") or {}).get("nodeName") or "",
                phase=(pod.get("status") or {}).get("phase", "Pending"),
                state=state,
                reason=reason,
                exit_code=code,
                restarts=restarts,
            )
        )
    return views


_INSUFFICIENT = re.compile(r"(\d+) Insufficient ([\w./-]+)")


def plain_unschedulable(message: str, pod: dict) -> str:
    """Turns the scheduler's message into a sentence about what the job waits for."""
    wants = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        if limits.get("nvidia.com/gpu"):
            wants.append(f"{limits['nvidia.com/gpu']} nvidia.com/gpu")
    missing = [name for _count, name in _INSUFFICIENT.findall(message)]
    if missing:
        what = ", ".join(dict.fromkeys(missing))
        return f"waiting for {what}: no node has enough free ({message.split('. preemption')[0].rstrip('.')})"
    if "didn't match Pod's node affinity/selector" in message:
        return f"waiting: no node matches the instance type's node selector ({message.split('. preemption')[0].rstrip('.')})"
    return f"waiting for the scheduler: {message}"


def derive(
    job: dict | None, pods: list[dict], events: list[dict]
) -> tuple[str, str, list[InstanceView]]:
    """Returns (status, reason, instances) for the cluster's view of one job."""
    views = instances(pods)
    if job is None:
        return (
            Status.FAILED,
            "The job's objects were deleted in the cluster outside the portal.",
            views,
        )
    conditions = {
        c.get("type"): c
        for c in (job.get("status") or {}).get("conditions") or []
        if c.get("status") == "True"
    }
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        return Status.COMPLETED, "", views
    if "Failed" in conditions or "FailureTarget" in conditions:
        cond = conditions.get("Failed") or conditions.get("FailureTarget")
        if cond.get("reason") == "DeadlineExceeded":
            return Status.FAILED, "DeadlineExceeded: the job ran longer than limits.timeout.", views
        return Status.FAILED, _failure_reason(views, cond), views
    for view in views:
        if view.state == "waiting" and view.reason in {
            "ErrImagePull",
            "ImagePullBackOff",
            "InvalidImageName",
        }:
            return (
                Status.FAILED,
                f"Image pull failure ({view.reason}) on instance {view.index}: check the image name and registry access.",
                views,
            )
        if view.reason == "CrashLoopBackOff":
            return (
                Status.FAILED,
                f"Crash loop on instance {view.index} after {view.restarts} restarts.",
                views,
            )
        if view.state == "terminated" and view.reason == "OOMKilled":
            return (
                Status.FAILED,
                f"OOMKilled: instance {view.index} ran out of memory; choose a larger instance type.",
                views,
            )
        if (pods_by_name(pods, view.pod).get("status") or {}).get("reason") == "Evicted":
            return (
                Status.FAILED,
                f"Evicted: instance {view.index} was evicted from node {view.node}.",
                views,
            )
    if not views:
        quota = next(
            (
                e
                for e in events
                if e.get("reason") == "FailedCreate" and "exceeded quota" in e.get("message", "")
            ),
            None,
        )
        if quota is not None:
            namespace = (job.get("metadata") or {}).get("namespace", "")
            return Status.QUEUED, f"waiting for quota in {namespace}: {quota['message']}", views
        return Status.QUEUED, "accepted by the cluster; waiting for the job controller", views
    if all(v.state == "terminated" and v.exit_code == 0 for v in views):
        return Status.FINALIZING, "", views
    if any(v.state == "running" for v in views):
        return Status.RUNNING, "", views
    for view in views:
        pod = pods_by_name(pods, view.pod)
        if not view.node:
            scheduled = next(
                (
                    c
                    for c in (pod.get("status") or {}).get("conditions") or []
                    if c.get("type") == "PodScheduled"
                ),
                None,
            )
            if scheduled and scheduled.get("status") == "False":
                return Status.QUEUED, plain_unschedulable(scheduled.get("message", ""), pod), views
            return Status.QUEUED, "waiting for the scheduler", views
    reasons = ", ".join(sorted({v.reason for v in views if v.reason})) or "starting containers"
    return Status.PREPARING, reasons, views


def pods_by_name(pods: list[dict], name: str) -> dict:
    return next((p for p in pods if p["metadata"]["name"] == name), {})


def _failure_reason(views: list[InstanceView], condition: dict) -> str:
    failed = [v for v in views if v.state == "terminated" and (v.exit_code or 0) != 0]
    if failed:
        v = failed[0]
        if v.reason == "OOMKilled":
            return (
                f"OOMKilled: instance {v.index} ran out of memory; choose a larger instance type."
            )
        return f"Instance {v.index} exited with code {v.exit_code} ({v.reason or 'Error'})."
    return f"{condition.get('reason', 'Failed')}: {condition.get('message', '')}".strip(": ")
