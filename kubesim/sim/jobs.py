"""The simulated Job controller (batch/v1).

Supports parallelism, completions, NonIndexed and Indexed completion modes, backoffLimit
(failed pods plus container restarts under restartPolicy OnFailure), activeDeadlineSeconds,
suspend, and the Job status fields and conditions Kubernetes reports.
"""

from __future__ import annotations

import copy
import logging
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
        meta = job["metadata"]
        uid = meta.get("uid", "")
        spec = job.get("spec") or {}
        pods = [p for p in self._cluster.owned_by("pods", uid) if controller_uid(p) == uid]
        failed_seen = self._failed.setdefault(uid, set())
        succeeded_seen = self._succeeded.setdefault(uid, {})
        active: list[dict[str, Any]] = []
        restarts = 0
        on_failure = ((spec.get("template") or {}).get("spec") or {}).get(
            "restartPolicy"
        ) == "OnFailure"
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            pod_uid = pod["metadata"].get("uid", "")
            if phase == "Failed":
                failed_seen.add(pod_uid)
            elif phase == "Succeeded":
                succeeded_seen[pod_uid] = _pod_index(pod)
            elif not pod["metadata"].get("deletionTimestamp"):
                active.append(pod)
                if on_failure:
                    restarts += sum(
                        cs.get("restartCount", 0)
                        for cs in (pod.get("status") or {}).get("containerStatuses") or []
                    )
        indexed = spec.get("completionMode") == "Indexed"
        parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        completions = spec.get("completions")
        if completions is None and indexed:
            completions = parallelism
        if indexed:
            done_indexes = {i for i in succeeded_seen.values() if i is not None}
            succeeded = len(done_indexes)
        else:
            done_indexes = set()
            succeeded = len(succeeded_seen)
        failed = max(len(failed_seen), int(status.get("failed", 0) or 0))
        stamp = now_iso()
        suspended = bool(spec.get("suspend"))
        events: list[tuple[str, str, str]] = []

        if suspended:
            for pod in active:
                self._delete_pod(job, pod)
            active = []
            if _set(conditions, "Suspended", "True", "JobSuspended", "Job suspended", stamp):
                events.append(("Normal", "Suspended", "Job suspended"))
            status.pop("startTime", None)
            self._started.pop(uid, None)
        else:
            if any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conditions):
                _set(conditions, "Suspended", "False", "JobResumed", "Job resumed", stamp)
                events.append(("Normal", "Resumed", "Job resumed"))
            if "startTime" not in status:
                status["startTime"] = stamp
                self._started[uid] = self._loop.time()
            elif uid not in self._started:
                self._started[uid] = self._loop.time() - seconds_since(status["startTime"])

        finished = None  # (condition, reason, message)
        backoff_limit = spec.get("backoffLimit", 6)
        deadline = spec.get("activeDeadlineSeconds")
        complete = (
            (succeeded >= completions)
            if completions is not None
            else (succeeded > 0 and not active)
        )
        if not suspended and complete:
            finished = ("Complete", None, None)
        elif not suspended and backoff_limit is not None and failed + restarts > backoff_limit:
            finished = (
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
        elif not suspended and deadline is not None:
            elapsed = (self._loop.time() - self._started.get(uid, self._loop.time())) * self._speed
            if elapsed >= float(deadline):
                finished = (
                    "Failed",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
            else:
                self.enqueue_after(key, self._sec(float(deadline) - elapsed) + 0.01)

        if finished is None and not suspended:
            self._scale(
                job, key, active, indexed, parallelism, completions, succeeded, done_indexes, failed
            )
            active = [
                p
                for p in self._cluster.owned_by("pods", uid)
                if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            ]
        elif finished is not None:
            if finished[0] == "Failed":
                for pod in active:
                    self._delete_pod(job, pod)
                active = []
                _set(conditions, "FailureTarget", "True", finished[1], finished[2], stamp)
                _set(conditions, "Failed", "True", finished[1], finished[2], stamp)
                events.append(("Warning", finished[1] or "Failed", finished[2] or ""))
            else:
                _set(
                    conditions,
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    stamp,
                )
                _set(
                    conditions,
                    "Complete",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    stamp,
                )
                status["completionTime"] = stamp
                events.append(("Normal", "Completed", "Job completed"))

        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if pod_is_ready(p))
        status["terminating"] = 0
        status["succeeded"] = succeeded
        status["failed"] = failed
        status["uncountedTerminatedPods"] = {}
        if indexed:
            status["completedIndexes"] = format_indexes(done_indexes)
        for field_name in ("active", "succeeded", "failed"):
            if status[field_name] == 0 and field_name not in (job.get("status") or {}):
                del status[field_name]  # Kubernetes omits zero counters
        if not conditions:
            del status["conditions"]
        if status != (job.get("status") or {}):
            self._store.patch(
                "jobs.batch", key[1], {"status": status}, namespace=key[0], subresource="status"
            )
        for etype, reason, message in events:
            self._events.record(job, "Job", etype, reason, message, COMPONENT)

    def _scale(
        self,
        job: dict[str, Any],
        key: Key,
        active: list[dict[str, Any]],
        indexed: bool,
        parallelism: int,
        completions: int | None,
        succeeded: int,
        done_indexes: set[int],
        failed: int,
    ) -> None:
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
