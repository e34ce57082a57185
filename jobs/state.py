"""The job's status machine, in one place: the order of states, how a transition is stored,
and how what the cluster shows of a job becomes its status.

``derive`` (pure) maps the ``batch/v1`` Job object (or None when it is gone), its pods and
the Warning events of the Job onto (status, reason in plain words, instances);
``apply_observed`` stores that, moving the job along ``STATUS_ORDER``; ``record_transition``
is the only writer of a job's status.
"""

import re
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from jobs.instances import InstanceRow, close_instances, close_rows, store_instances
from jobs.models import TERMINAL, Instance, Job, Status, Transition
from jobs.notify import broadcast_job
from tracking import services as tracking

# The forward path of a job; derived states earlier on it than the job's are old news.
STATUS_ORDER = [
    Status.QUEUED,
    Status.PREPARING,
    Status.RUNNING,
    Status.FINALIZING,
    Status.COMPLETED,
]

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
    failure = _instance_failure(views, pods)
    if failure:
        return Status.FAILED, failure, views
    if not views:
        return Status.QUEUED, _waiting_for_pods(job, events), views
    if all(v.state == "terminated" and v.exit_code == 0 for v in views):
        return Status.FINALIZING, "", views
    if any(v.state == "running" for v in views):
        return Status.RUNNING, "", views
    unscheduled = _unscheduled(views, pods)
    if unscheduled:
        return Status.QUEUED, unscheduled, views
    reasons = ", ".join(sorted({v.reason for v in views if v.reason})) or "starting containers"
    return Status.PREPARING, reasons, views


_PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName"}


def _instance_failure(views: list[InstanceView], pods: list[dict]) -> str:
    """Why the job failed though its Job has not said so yet (an instance that cannot go
    on), or ""."""
    for view in views:
        if view.state == "waiting" and view.reason in _PULL_FAILURES:
            return f"Image pull failure ({view.reason}) on instance {view.index}: check the image name and registry access."
        if view.reason == "CrashLoopBackOff":
            return f"Crash loop on instance {view.index} after {view.restarts} restarts."
        if view.state == "terminated" and view.reason == "OOMKilled":
            return f"OOMKilled: instance {view.index} ran out of memory; choose a larger instance type."
        if (pods_by_name(pods, view.pod).get("status") or {}).get("reason") == "Evicted":
            return f"Evicted: instance {view.index} was evicted from node {view.node}."
    return ""


def _waiting_for_pods(job: dict, events: list[dict]) -> str:
    """What a Job without pods waits for: quota (from its FailedCreate events) or its
    controller."""
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
        return f"waiting for quota in {namespace}: {quota['message']}"
    return "accepted by the cluster; waiting for the job controller"


def _unscheduled(views: list[InstanceView], pods: list[dict]) -> str:
    """The scheduler's reason, in plain words, for the first instance without a node; ""
    when every instance has one."""
    for view in views:
        if view.node:
            continue
        pod = pods_by_name(pods, view.pod)
        scheduled = next(
            (
                c
                for c in (pod.get("status") or {}).get("conditions") or []
                if c.get("type") == "PodScheduled"
            ),
            None,
        )
        if scheduled and scheduled.get("status") == "False":
            return plain_unschedulable(scheduled.get("message", ""), pod)
        return "waiting for the scheduler"
    return ""


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


def record_transition(job: Job, to: str, reason: str = "", *, at=None, fields=None) -> bool:
    """Moves ``job`` to ``to`` and stores the transition once. Returns False when nothing changed.

    Terminal states are final, and CancelRequested only moves to Canceled (or a terminal
    state the cluster reached first), so late or repeated events cannot reorder history.
    ``fields`` (column → value) are written with the move, in the same statement.
    """
    at = at or timezone.now()
    with transaction.atomic():
        locked = (
            Job.objects.select_for_update()
            .only("status", "status_reason", "started_at", "run_id")
            .get(pk=job.pk)
        )
        current = locked.status
        last = Transition.objects.filter(job_id=job.pk).order_by("-seq").values_list("seq")[:1]
        last_seq = last[0][0] if last else None
        if last_seq is not None and current == to and locked.status_reason == reason:
            return False
        if current in TERMINAL:
            return False
        if current == Status.CANCEL_REQUESTED and to not in TERMINAL:
            return False
        # updated_at by hand: update() leaves auto_now alone, and the reconcile pass reads
        # it to find starts nobody is working on.
        updates = {"status_reason": reason, "updated_at": at, **(fields or {})}
        if last_seq is not None and current == to:
            Job.objects.filter(pk=job.pk).update(**updates)
            for key, value in updates.items():
                setattr(job, key, value)
            broadcast_job(job)
            return True
        Transition.objects.create(
            job_id=job.pk,
            seq=(last_seq or 0) + 1,
            from_status=current if last_seq is not None else "",
            to_status=to,
            reason=reason,
            at=at,
        )
        updates["status"] = to
        if to == Status.RUNNING and locked.started_at is None:
            updates["started_at"] = at
        if to in TERMINAL:
            updates["ended_at"] = at
            close_instances(job.pk, to)
        Job.objects.filter(pk=job.pk).update(**updates)
        for key, value in updates.items():
            setattr(job, key, value)
        tracking.follow_job(locked.run_id, to, int(at.timestamp() * 1000))
        broadcast_job(job, ended=to in TERMINAL)
    return True


# What a state a job passed through meant, for the transitions filled in afterwards (the
# watcher missed them; the repair pass or a later event found the job further on).
PASSED_THROUGH = {
    Status.QUEUED: "accepted by the cluster",
    Status.PREPARING: "scheduled; starting containers",
    Status.RUNNING: "running",
}


def filled_in_reason(step: str, reached: str) -> str:
    """The reason stored for ``step`` when the job was first seen already at ``reached``."""
    return f"{PASSED_THROUGH.get(step, step)} (recorded late: the job was already {reached})"


def apply_observed(
    job: Job,
    new_status: str,
    reason: str,
    views: list[InstanceView],
    *,
    instances: dict[int, Instance] | dict[int, InstanceRow] | None = None,
    deferred: list[InstanceRow] | None = None,
) -> tuple[bool, bool]:
    """Stores the instances and moves ``job`` towards ``new_status``, as the cluster shows it.

    Returns (instances changed, status or reason changed). Guarantees: each transition is
    stored once and in order (states a fast job skipped are filled in), and a job never moves
    backwards along STATUS_ORDER (a replayed old event cannot turn Running into Queued).
    ``instances`` are the job's current rows by index when the caller already has them;
    changed rows are appended to ``deferred`` when given (the caller writes them with
    ``instances.save_instances``, one statement for a whole batch) instead of saved one by
    one. Call inside a transaction; broadcasts happen on commit.
    """
    changed_instances = store_instances(job, views, instances=instances, deferred=deferred)
    current = job.status
    if new_status == current and reason == job.status_reason:
        return changed_instances, False  # nothing to record: spare record_transition's lock
    on_path = new_status in STATUS_ORDER and current in STATUS_ORDER
    if on_path and STATUS_ORDER.index(new_status) < STATUS_ORDER.index(current):
        return changed_instances, False
    # Pass through the intermediate states a fast job skipped, in order.
    if on_path:
        for step in STATUS_ORDER[STATUS_ORDER.index(current) + 1 : STATUS_ORDER.index(new_status)]:
            if step != Status.FINALIZING:
                record_transition(job, step, filled_in_reason(step, new_status))
    if (
        new_status == Status.FAILED
        and current in (Status.QUEUED, Status.PREPARING)
        and any(v.state == "terminated" for v in views)
    ):
        record_transition(job, Status.RUNNING, filled_in_reason(Status.RUNNING, new_status))
    moved = record_transition(job, new_status, reason)
    if moved and new_status in TERMINAL and deferred:
        close_rows([row for row in deferred if row.job_id == job.pk], new_status)
    return changed_instances, moved
