"""The simulated CronJob controller (batch/v1).

Schedules are standard five-field cron expressions (``*``, lists, ranges, steps, and the
``@hourly``-style macros) evaluated in simulated time: a CronJob's clock starts at its
creation and runs ``speed`` times faster than the wall clock. Supports concurrencyPolicy
(Allow, Forbid, Replace), suspend, and the successful/failed job history limits.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from .events import EventRecorder
from .informer import Cluster, Controller, Key
from .util import get_condition, owner_reference

COMPONENT = "cronjob-controller"
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def parse_field(text: str, low: int, high: int) -> set[int]:
    """Return the values one cron field allows; raise ValueError if malformed."""
    out: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (int(x) for x in base.split("-", 1))
        else:
            start = int(base)
            end = high if step_text else start
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(f"cron field {text!r} is out of range {low}-{high}")
        out.update(range(start, end + 1, step))
    return out


def parse_schedule(schedule: str) -> list[set[int]]:
    """Return the allowed minutes, hours, days, months and weekdays of a schedule."""
    fields = MACROS.get(schedule.strip(), schedule).split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields in schedule {schedule!r}")
    return [parse_field(f, lo, hi) for f, (lo, hi) in zip(fields, _RANGES, strict=True)]


def next_run(schedule: list[set[int]], after: datetime) -> datetime:
    """Return the first minute strictly after ``after`` that the schedule allows."""
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes, hours, days, months, weekdays = schedule
    for _ in range(366 * 24 * 60):
        if (
            t.minute in minutes
            and t.hour in hours
            and t.day in days
            and t.month in months
            and (t.isoweekday() % 7) in weekdays
        ):
            return t
        t += timedelta(minutes=1)
    raise ValueError("the schedule never fires")


def _finished(job: dict[str, Any]) -> str | None:
    for ctype in ("Complete", "Failed"):
        cond = get_condition(job, ctype)
        if cond is not None and cond.get("status") == "True":
            return ctype
    return None


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class CronJobController(Controller):
    """Creates Jobs from CronJobs on their schedule and keeps their history trimmed."""

    name = COMPONENT

    def __init__(self, store: Any, cluster: Cluster, recorder: EventRecorder, speed: float):
        super().__init__()
        self._store = store
        self._cluster = cluster
        self._events = recorder
        self._speed = speed
        self._born: dict[str, tuple[datetime, float]] = {}  # uid -> (creation, wall start)
        cluster.subscribe("cronjobs.batch", self._on_cronjob)
        cluster.subscribe("jobs.batch", self._on_job)

    def _on_cronjob(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj.get("metadata") or {}
        if event_type == "DELETED":
            self._born.pop(meta.get("uid", ""), None)
            return
        self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    def _on_job(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == "CronJob":
                self.enqueue(((obj.get("metadata") or {}).get("namespace") or "", ref["name"]))

    def sim_now(self, cj: dict[str, Any]) -> datetime:
        """Return the CronJob's simulated clock: creation time plus sped-up elapsed time."""
        uid = cj["metadata"].get("uid", "")
        if uid not in self._born:
            created = cj["metadata"].get("creationTimestamp") or _stamp(datetime.now(UTC))
            born = datetime.fromisoformat(created.replace("Z", "+00:00"))
            self._born[uid] = (born, time.monotonic())
        born, wall = self._born[uid]
        return born + timedelta(seconds=(time.monotonic() - wall) * self._speed)

    def reconcile(self, key: Key) -> None:
        """Start the Job due now (honouring concurrency), trim history, write status."""
        cj = self._cluster.objects["cronjobs.batch"].get(key)
        if cj is None:
            return
        spec = cj.get("spec") or {}
        try:
            schedule = parse_schedule(spec.get("schedule") or "")
        except ValueError as exc:
            self._events.record(
                cj, "CronJob", "Warning", "UnparseableSchedule", str(exc), COMPONENT
            )
            return
        status = copy.deepcopy(cj.get("status") or {})
        jobs = self._cluster.owned_by("jobs.batch", cj["metadata"].get("uid", ""))
        active = [j for j in jobs if _finished(j) is None]
        now = self.sim_now(cj)
        last = status.get("lastScheduleTime") or cj["metadata"].get("creationTimestamp")
        due = next_run(schedule, datetime.fromisoformat(last.replace("Z", "+00:00")))
        if due <= now and not spec.get("suspend"):
            active = self._start(cj, spec, due, active)
            status["lastScheduleTime"] = _stamp(due)
            due = next_run(schedule, due)
        self._trim(cj, spec, jobs)
        done = [j for j in jobs if _finished(j) == "Complete"]
        if done:
            times = [(j.get("status") or {}).get("completionTime") or "" for j in done]
            status["lastSuccessfulTime"] = max(times)
        status["active"] = [
            {
                "kind": "Job",
                "apiVersion": "batch/v1",
                "name": j["metadata"]["name"],
                "namespace": key[0],
                "uid": j["metadata"]["uid"],
            }
            for j in active
        ]
        if not status["active"]:
            del status["active"]
        if status != (cj.get("status") or {}):
            self._store.patch(
                "cronjobs.batch", key[1], {"status": status}, namespace=key[0], subresource="status"
            )
        wait = max((due - self.sim_now(cj)).total_seconds(), 0) / self._speed
        self.enqueue_after(key, wait + 0.01)

    def _start(
        self, cj: dict[str, Any], spec: dict[str, Any], due: datetime, active: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Create the Job for ``due`` unless the concurrency policy forbids; return active."""
        policy = spec.get("concurrencyPolicy") or "Allow"
        if active and policy == "Forbid":
            return active
        if active and policy == "Replace":
            for job in active:
                self._store.delete(
                    "jobs.batch", job["metadata"]["name"], namespace=job["metadata"]["namespace"]
                )
            active = []
        template = copy.deepcopy(spec.get("jobTemplate") or {})
        meta = template.setdefault("metadata", {})
        name = f"{cj['metadata']['name']}-{int(due.timestamp()) // 60}"
        meta.update(name=name, ownerReferences=[owner_reference(cj, "batch/v1", "CronJob")])
        annotations = meta.setdefault("annotations", {})
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = _stamp(due)
        body = {"apiVersion": "batch/v1", "kind": "Job", **template}
        ns = cj["metadata"].get("namespace") or "default"
        try:
            job = self._store.create("jobs.batch", body, namespace=ns)
        except Exception as exc:
            self._events.record(cj, "CronJob", "Warning", "FailedCreate", str(exc), COMPONENT)
            return active
        self._events.record(
            cj, "CronJob", "Normal", "SuccessfulCreate", f"Created job {name}", COMPONENT
        )
        return [*active, job]

    def _trim(self, cj: dict[str, Any], spec: dict[str, Any], jobs: list[dict[str, Any]]) -> None:
        """Delete the oldest finished Jobs beyond the history limits."""
        limits = {
            "Complete": spec.get("successfulJobsHistoryLimit", 3),
            "Failed": spec.get("failedJobsHistoryLimit", 1),
        }
        for outcome, limit in limits.items():
            done = sorted(
                (j for j in jobs if _finished(j) == outcome),
                key=lambda j: j["metadata"].get("creationTimestamp") or "",
            )
            for job in done[: max(0, len(done) - int(limit))]:
                self._store.delete(
                    "jobs.batch",
                    job["metadata"]["name"],
                    namespace=job["metadata"]["namespace"],
                    propagation="Background",
                )
                msg = f"Deleted job {job['metadata']['name']}"
                self._events.record(cj, "CronJob", "Normal", "SuccessfulDelete", msg, COMPONENT)
