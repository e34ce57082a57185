"""The simulated Job controller (batch/v1).

Supports parallelism, completions, NonIndexed and Indexed completion modes, backoffLimit
(failed pods plus container restarts under restartPolicy OnFailure), activeDeadlineSeconds,
suspend, and the Job status fields and conditions Kubernetes reports.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from .events import EventRecorder
from .informer import Cluster, Controller, Key
from .util import (
    controller_uid,
    now_iso,
    owner_reference,
    pod_is_ready,
    rand_suffix,
    seconds_since,
)

log = logging.getLogger(__name__)

COMPONENT = "job-controller"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
BACKOFF_BASE = 10.0  # replacement pods for failed ones wait 10s, 20s, ... (simulated)
BACKOFF_MAX = 360.0


def format_indexes(indexes: set[int]) -> str:
    """Return a sorted index set in Kubernetes' compressed form, e.g. "0-2,4"."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def _pod_index(pod: dict[str, Any]) -> int | None:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_KEY)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


@dataclass(slots=True)
class _Tally:
    """What a Job's pods add up to in one reconcile."""

    indexed: bool
    active: list[dict[str, Any]] = field(default_factory=list)
    restarts: int = 0
    parallelism: int = 1
    completions: int | None = None
    succeeded: int = 0
    failed: int = 0
    done_indexes: set[int] = field(default_factory=set)


def _finish(
    status: dict[str, Any],
    finished: tuple[str, str | None, str | None],
    stamp: str,
    events: list[tuple[str, str, str]],
) -> None:
    """Set the conditions (and completionTime) of a Job that completed or failed."""
    conditions = status["conditions"]
    ctype, reason, message = finished
    if ctype == "Failed":
        _set(conditions, "FailureTarget", "True", reason, message, stamp)
        _set(conditions, "Failed", "True", reason, message, stamp)
        events.append(("Warning", reason or "Failed", message or ""))
        return
    done = "Reached expected number of succeeded pods"
    _set(conditions, "SuccessCriteriaMet", "True", "CompletionsReached", done, stamp)
    _set(conditions, "Complete", "True", "CompletionsReached", done, stamp)
    status["completionTime"] = stamp
    events.append(("Normal", "Completed", "Job completed"))


class JobController(Controller):
    """Reconciles Jobs: creates their pods and maintains their status."""

    name = "job-controller"

    def __init__(self, store: Any, cluster: Cluster, recorder: EventRecorder, speed: float):
        super().__init__()
        self._store = store
        self._cluster = cluster
        self._events = recorder
        self._speed = speed
        # Failed/succeeded pod uids seen per job uid: pods may be deleted after they ran.
        self._failed: dict[str, set[str]] = {}
        self._succeeded: dict[str, dict[str, int | None]] = {}
        # Monotonic start per job uid: startTime has one-second precision, too coarse at speed.
        self._started: dict[str, float] = {}
        cluster.subscribe("jobs.batch", self._on_job)
        cluster.subscribe("pods", self._on_pod)

    def _on_job(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj.get("metadata") or {}
        if event_type == "DELETED":
            self._failed.pop(meta.get("uid", ""), None)
            self._succeeded.pop(meta.get("uid", ""), None)
            self._started.pop(meta.get("uid", ""), None)
            return
        self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    def _on_pod(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == "Job":
                self.enqueue(((obj.get("metadata") or {}).get("namespace") or "", ref["name"]))

    def _sec(self, simulated: float) -> float:
        return simulated / self._speed

    def reconcile(self, key: Key) -> None:
        """Create/delete pods toward the Job's spec and write its status."""
        job = self._cluster.objects["jobs.batch"].get(key)
        if job is None:
            return
        status = copy.deepcopy(job.get("status") or {})
        conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
        if any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in conditions
        ):
            return  # finished jobs are immutable in outcome
        uid = job["metadata"].get("uid", "")
        spec = job.get("spec") or {}
        tally = self._tally(job, status)
        stamp = now_iso()
        events: list[tuple[str, str, str]] = []
        active = tally.active
        if spec.get("suspend"):
            for pod in active:
                self._delete_pod(job, pod)
            active = []
            if _set(conditions, "Suspended", "True", "JobSuspended", "Job suspended", stamp):
                events.append(("Normal", "Suspended", "Job suspended"))
            status.pop("startTime", None)
            self._started.pop(uid, None)
        else:
            self._resume_or_start(uid, status, conditions, stamp, events)
            finished = self._outcome(key, uid, spec, tally)
            if finished is None:
                self._scale(job, key, tally)
                active = [
                    p
                    for p in self._cluster.owned_by("pods", uid)
                    if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                ]
            else:
                if finished[0] == "Failed":
                    for pod in active:
                        self._delete_pod(job, pod)
                    active = []
                _finish(status, finished, stamp, events)
        self._write_status(job, key, status, tally, active)
        for etype, reason, message in events:
            self._events.record(job, "Job", etype, reason, message, COMPONENT)

    def _tally(self, job: dict[str, Any], status: dict[str, Any]) -> _Tally:
        """Count the Job's pods: active ones, restarts, succeeded and failed (ever seen)."""
        uid = job["metadata"].get("uid", "")
        spec = job.get("spec") or {}
        failed_seen = self._failed.setdefault(uid, set())
        succeeded_seen = self._succeeded.setdefault(uid, {})
        template_spec = (spec.get("template") or {}).get("spec") or {}
        on_failure = template_spec.get("restartPolicy") == "OnFailure"
        tally = _Tally(indexed=spec.get("completionMode") == "Indexed")
        for pod in self._cluster.owned_by("pods", uid):
            if controller_uid(pod) != uid:
                continue
            phase = (pod.get("status") or {}).get("phase")
            pod_uid = pod["metadata"].get("uid", "")
            if phase == "Failed":
                failed_seen.add(pod_uid)
            elif phase == "Succeeded":
                succeeded_seen[pod_uid] = _pod_index(pod)
            elif not pod["metadata"].get("deletionTimestamp"):
                tally.active.append(pod)
                if on_failure:
                    tally.restarts += sum(
                        cs.get("restartCount", 0)
                        for cs in (pod.get("status") or {}).get("containerStatuses") or []
                    )
        parallelism = spec.get("parallelism")
        tally.parallelism = int(parallelism if parallelism is not None else 1)
        tally.completions = spec.get("completions")
        if tally.completions is None and tally.indexed:
            tally.completions = tally.parallelism
        if tally.indexed:
            tally.done_indexes = {i for i in succeeded_seen.values() if i is not None}
            tally.succeeded = len(tally.done_indexes)
        else:
            tally.succeeded = len(succeeded_seen)
        tally.failed = max(len(failed_seen), int(status.get("failed", 0) or 0))
        return tally

    def _resume_or_start(
        self,
        uid: str,
        status: dict[str, Any],
        conditions: list[dict[str, Any]],
        stamp: str,
        events: list[tuple[str, str, str]],
    ) -> None:
        """Clear a Suspended condition and record when the Job (re)started running."""
        if any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conditions):
            _set(conditions, "Suspended", "False", "JobResumed", "Job resumed", stamp)
            events.append(("Normal", "Resumed", "Job resumed"))
        if "startTime" not in status:
            status["startTime"] = stamp
            self._started[uid] = self._loop.time()
        elif uid not in self._started:
            self._started[uid] = self._loop.time() - seconds_since(status["startTime"])

    def _outcome(
        self, key: Key, uid: str, spec: dict[str, Any], tally: _Tally
    ) -> tuple[str, str | None, str | None] | None:
        """Return (condition, reason, message) if a running Job is finished, else None.

        With an activeDeadlineSeconds not reached yet, the Job is re-queued for it.
        """
        if tally.completions is not None:
            complete = tally.succeeded >= tally.completions
        else:
            complete = tally.succeeded > 0 and not tally.active
        if complete:
            return ("Complete", None, None)
        backoff_limit = spec.get("backoffLimit", 6)
        if backoff_limit is not None and tally.failed + tally.restarts > backoff_limit:
            return ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is None:
            return None
        now = self._loop.time()
        elapsed = (now - self._started.get(uid, now)) * self._speed
        if elapsed >= float(deadline):
            return ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        self.enqueue_after(key, self._sec(float(deadline) - elapsed) + 0.01)
        return None

    def _write_status(
        self,
        job: dict[str, Any],
        key: Key,
        status: dict[str, Any],
        tally: _Tally,
        active: list[dict[str, Any]],
    ) -> None:
        """Fill in the counters and patch the status subresource if anything changed."""
        old = job.get("status") or {}
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if pod_is_ready(p))
        status["terminating"] = 0
        status["succeeded"] = tally.succeeded
        status["failed"] = tally.failed
        status["uncountedTerminatedPods"] = {}
        if tally.indexed:
            status["completedIndexes"] = format_indexes(tally.done_indexes)
        for field_name in ("active", "succeeded", "failed"):
            if status[field_name] == 0 and field_name not in old:
                del status[field_name]  # Kubernetes omits zero counters
        if not status["conditions"]:
            del status["conditions"]
        if status != old:
            self._store.patch(
                "jobs.batch", key[1], {"status": status}, namespace=key[0], subresource="status"
            )

    def _scale(self, job: dict[str, Any], key: Key, tally: _Tally) -> None:
        active, parallelism, completions = tally.active, tally.parallelism, tally.completions
        indexed, succeeded, done_indexes = tally.indexed, tally.succeeded, tally.done_indexes
        failed = tally.failed
        if indexed:
            assert completions is not None
            running = {_pod_index(p) for p in active}
            missing = [i for i in range(completions) if i not in done_indexes and i not in running]
            budget = max(0, parallelism - len(active))
            wanted: list[int | None] = list(missing[:budget])
        else:
            if completions is None:
                want = parallelism if succeeded == 0 else 0
            else:
                want = min(parallelism, completions - succeeded)
            wanted = [None] * max(0, want - len(active))
            # Too many active pods (parallelism lowered): remove the newest extras.
            for pod in active[max(0, want) :] if len(active) > want else []:
                self._delete_pod(job, pod)
        if not wanted:
            return
        if failed:
            # Back off before replacing failed pods, like the real controller.
            delay = min(BACKOFF_BASE * 2 ** (failed - 1), BACKOFF_MAX)
            last = self._last_failure_age(job)
            if last * self._speed < delay:
                self.enqueue_after(key, self._sec(delay) - last + 0.01)
                return
        for index in wanted:
            self._create_pod(job, index)

    def _last_failure_age(self, job: dict[str, Any]) -> float:
        uid = job["metadata"].get("uid", "")
        newest = 1e18
        for pod in self._cluster.owned_by("pods", uid):
            if (pod.get("status") or {}).get("phase") != "Failed":
                continue
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                finished = ((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")
                newest = min(newest, seconds_since(finished))
        return 0.0 if newest == 1e18 else newest

    def _create_pod(self, job: dict[str, Any], index: int | None) -> None:
        meta = job["metadata"]
        name, namespace, uid = meta["name"], meta.get("namespace") or "default", meta["uid"]
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        pod_meta = template.setdefault("metadata", {})
        labels = pod_meta.setdefault("labels", {})
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
        )
        spec = template.setdefault("spec", {})
        if index is not None:
            pod_meta.setdefault("annotations", {})[INDEX_KEY] = str(index)
            labels[INDEX_KEY] = str(index)
            spec["hostname"] = f"{name}-{index}"
            for container in spec.get("containers") or []:
                env = container.setdefault("env", [])
                if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
                    env.append(
                        {
                            "name": "JOB_COMPLETION_INDEX",
                            "valueFrom": {
                                "fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_KEY}']"}
                            },
                        }
                    )
            prefix = f"{name}-{index}-"
        else:
            prefix = f"{name}-"
        pod_meta.pop("name", None)
        pod_meta["generateName"] = prefix
        pod_meta["namespace"] = namespace
        pod_meta["ownerReferences"] = [owner_reference(job, "batch/v1", "Job")]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}
        for _ in range(5):
            pod_meta["name"] = prefix + rand_suffix()
            try:
                self._store.create("pods", pod, namespace=namespace)
            except Exception as exc:
                if getattr(exc, "code", None) == 409:
                    continue  # name collision: draw another suffix
                self._events.record(
                    job, "Job", "Warning", "FailedCreate", f"Error creating: {exc}", COMPONENT
                )
                return
            self._events.record(
                job,
                "Job",
                "Normal",
                "SuccessfulCreate",
                f"Created pod: {pod_meta['name']}",
                COMPONENT,
            )
            return

    def _delete_pod(self, job: dict[str, Any], pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            self._store.delete("pods", meta["name"], namespace=meta.get("namespace"))
        except Exception as exc:
            log.debug("delete pod %s failed: %s", meta.get("name"), exc)
            return
        self._events.record(
            job, "Job", "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}", COMPONENT
        )


def _set(
    conditions: list[dict[str, Any]],
    ctype: str,
    status: str,
    reason: str | None,
    message: str | None,
    stamp: str,
) -> bool:
    """Set a Job condition (with lastProbeTime and lastTransitionTime); True if changed."""
    for cond in conditions:
        if cond.get("type") == ctype:
            if cond.get("status") == status and cond.get("reason") == reason:
                return False
            cond.update(
                status=status,
                reason=reason,
                message=message,
                lastProbeTime=stamp,
                lastTransitionTime=stamp,
            )
            return True
    conditions.append(
        {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "lastProbeTime": stamp,
            "lastTransitionTime": stamp,
        }
    )
    return True
