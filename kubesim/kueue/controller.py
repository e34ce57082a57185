"""The simulated Kueue controller manager: queues, admission, preemption, statuses.

Store listeners keep an in-memory picture (ClusterQueues with their usage and pending
workloads grouped by shape, LocalQueues, flavors, priority classes, one entry per
Workload) and mark what changed; the controller's task then schedules only the cohorts
(or lone ClusterQueues) whose picture changed and writes only the statuses that did. A
scheduling pass looks at the first workload of each distinct request shape in each
queue, so its cost follows the changes, not the length of the queues.
"""

from __future__ import annotations

import logging
from typing import Any

from kubesim.objects import clone
from kubesim.sim.events import EventRecorder
from kubesim.sim.informer import Controller

from . import jobsync, status, webhooks
from .crds import GROUP
from .quota import BORROW, FIT, FR, NOFIT, Queue, Quotas, parse_queue, quantity
from .workloads import (
    QUEUE_LABEL,
    WORKLOADS,
    Entry,
    entry_from,
    next_seq,
    reset_condition,
    set_condition,
)

log = logging.getLogger(__name__)

COMPONENT = "kueue-admission"
JOBS = "jobs.batch"
FLAVORS = f"resourceflavors.{GROUP}"
CQS = f"clusterqueues.{GROUP}"
LQS = f"localqueues.{GROUP}"
WPCS = f"workloadpriorityclasses.{GROUP}"
_REASONS = {
    "InClusterQueue": "prioritization in the ClusterQueue",
    "InCohortReclamation": "reclamation within the cohort",
    "InCohortReclaimWhileBorrowing": "reclamation within the cohort while borrowing",
}
Key = tuple[str, str]


class KueueController(Controller):
    """Kueue's scheduler, workload, queue and batch/v1 Job controllers in one."""

    name = "kueue-controller"
    batch = 512

    def __init__(self, store: Any, recorder: EventRecorder) -> None:
        super().__init__()
        self.store = store
        self.events = recorder
        self.quotas = Quotas()
        self.flavors: dict[str, dict] = {}
        self.lqs: dict[Key, str] = {}
        self.priorities: dict[str, int] = {}
        self.entries: dict[Key, Entry] = {}
        self.by_job: dict[str, Key] = {}
        # "lq:<ns>/<name>" or "cq:<name>" -> workloads waiting for that queue to exist
        self.waiting: dict[str, set[Key]] = {}
        self.lq_usage: dict[Key, dict[FR, int]] = {}
        self.lq_counts: dict[Key, dict[str, int]] = {}
        self._seen_queues: dict[str, tuple] = {}  # ClusterQueue -> (uid, generation)
        self.admissions = 0
        self._groups: set[str] = set()
        self._fresh: set[Key] = set()
        store.add_mutator(JOBS, jobsync.suspend_new_job)
        store.add_mutator(CQS, webhooks.cluster_queue)
        store.add_listener(self._on_event)
        for resource in (FLAVORS, WPCS, CQS, LQS, WORKLOADS, JOBS):
            for obj in store.list(resource, copy=False)[0]:
                self._on_event("ADDED", resource, obj)

    def close(self) -> None:
        """Stop reacting to the store (and cancel timers)."""
        super().close()
        self.store.remove_listener(self._on_event)
        self.store.remove_mutator(JOBS, jobsync.suspend_new_job)
        self.store.remove_mutator(CQS, webhooks.cluster_queue)

    # ----------------------------------------------------------------- events
    def _on_event(self, etype: str, resource: str, obj: dict) -> None:
        handler = self._HANDLERS.get(resource)
        if handler is not None:
            handler(self, etype, obj)

    def _on_job(self, etype: str, obj: dict) -> None:
        meta = obj["metadata"]
        if etype == "DELETED":
            return  # its Workload goes with it (owner reference)
        if (meta.get("labels") or {}).get(QUEUE_LABEL) or meta.get("uid") in self.by_job:
            self.enqueue(("job", meta.get("namespace", ""), meta["name"]))

    def _on_flavor(self, etype: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        if etype == "DELETED":
            self.flavors.pop(name, None)
        else:
            self.flavors[name] = obj.get("spec") or {}
        for queue in self.quotas.queues.values():
            if name in queue.flavor_names():
                self._touch(queue.name)

    def _on_priority(self, etype: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        if etype == "DELETED":
            self.priorities.pop(name, None)
        else:
            self.priorities[name] = int(obj.get("value") or 0)

    def _on_cluster_queue(self, etype: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        meta = obj["metadata"]
        seen = (meta.get("uid"), meta.get("generation"), meta.get("deletionTimestamp"))
        if etype == "MODIFIED" and self._seen_queues.get(name) == seen:
            return  # a status write (ours): nothing to schedule
        self._seen_queues[name] = seen
        old = self.quotas.queues.get(name)
        if old is not None:
            self._groups.add(self.quotas.group_of(name))
        if etype == "DELETED":
            self._seen_queues.pop(name, None)
            queue = self.quotas.remove(name)
            for key in [k for items in (queue.pending.values() if queue else ()) for _, k in items]:
                self._park(self.entries[key], f"cq:{name}")
            self._kick()
            return
        queue = parse_queue(name, obj.get("spec") or {})
        queue.terminating = bool(meta.get("deletionTimestamp"))
        self.quotas.put(queue)
        for key in self.waiting.pop(f"cq:{name}", set()):
            if key in self.entries:
                self._place(self.entries[key])
        self._touch(name)
        for lq, cq in self.lqs.items():
            if cq == name:
                self.enqueue(("lq", *lq))

    def _on_local_queue(self, etype: str, obj: dict) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if etype == "DELETED":
            self.lqs.pop(key, None)
            return
        cq = (obj.get("spec") or {}).get("clusterQueue") or ""
        if self.lqs.get(key) == cq:
            return
        self.lqs[key] = cq
        for wl in self.waiting.pop(f"lq:{key[0]}/{key[1]}", set()):
            if wl in self.entries:
                self._place(self.entries[wl])
        self.enqueue(("lq", *key))

    def _on_workload(self, etype: str, obj: dict) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        entry = self.entries.get(key)
        if etype == "DELETED":
            if entry is not None and entry.uid == meta.get("uid"):
                self._forget(entry)
            return
        if entry is not None and entry.uid == meta.get("uid"):
            if int(meta.get("generation") or 1) == entry.generation:
                return
            self._forget(entry)  # spec changed: queue it afresh
        if any(
            c.get("type") == "Finished" and c.get("status") == "True"
            for c in (obj.get("status") or {}).get("conditions") or ()
        ):
            return
        entry = entry_from(obj)
        for ref in meta.get("ownerReferences") or ():
            if ref.get("kind") == "Job" and ref.get("controller"):
                entry.job_uid = ref.get("uid", "")
                entry.job = ref.get("name", "")
        self.entries[key] = entry
        if entry.job_uid:
            self.by_job[entry.job_uid] = key
        self._place(entry)

    _HANDLERS = {
        JOBS: _on_job,
        FLAVORS: _on_flavor,
        WPCS: _on_priority,
        CQS: _on_cluster_queue,
        LQS: _on_local_queue,
        WORKLOADS: _on_workload,
    }

    # ----------------------------------------------------------------- bookkeeping
    def _touch(self, cq: str) -> None:
        self._groups.add(self.quotas.group_of(cq))
        self.enqueue(("cq", cq))
        self._kick()

    def _kick(self) -> None:
        self.enqueue(("schedule",))

    def _park(self, entry: Entry, reason: str) -> None:
        self._state(entry, "waiting")
        entry.cq = ""
        self.waiting.setdefault(reason, set()).add(entry.key)
        self.enqueue(("wl", *entry.key))

    def _place(self, entry: Entry) -> None:
        """Queue a workload in its ClusterQueue (or park it until its queues exist)."""
        cq = self.lqs.get(entry.lq)
        if cq is None:
            self._park(entry, f"lq:{entry.key[0]}/{entry.queue_name}")
            return
        queue = self.quotas.queues.get(cq)
        if queue is None:
            self._park(entry, f"cq:{cq}")
            return
        entry.cq = cq
        self._state(entry, "pending")
        queue.add_pending(entry.shape, entry.order, entry.key)
        self._fresh.add(entry.key)
        self._touch(cq)
        self.enqueue(("lq", *entry.lq))

    def _unqueue(self, entry: Entry) -> None:
        queue = self.quotas.queues.get(entry.cq)
        if entry.state == "pending" and queue is not None:
            queue.drop_pending(entry.shape, entry.order, entry.key)
        for keys in self.waiting.values():
            keys.discard(entry.key)

    def _forget(self, entry: Entry) -> None:
        self._unqueue(entry)
        if entry.state in ("admitted", "evicting"):
            self._release(entry)
        if self.by_job.get(entry.job_uid) == entry.key:
            del self.by_job[entry.job_uid]
        self.entries.pop(entry.key, None)
        self._state(entry, "gone")
        if entry.cq:
            self._touch(entry.cq)
            self.enqueue(("lq", *entry.lq))

    def _state(self, entry: Entry, state: str) -> None:
        """Move a workload to ``state``, keeping its LocalQueue's counts."""
        counts = self.lq_counts.setdefault(entry.lq, {})
        if entry.state in counts:
            counts[entry.state] -= 1
        queue = self.quotas.queues.get(entry.cq)
        if queue is not None and "evicting" in (entry.state, state) and entry.state != state:
            queue.evicting += 1 if state == "evicting" else -1
        entry.state = state
        counts[state] = counts.get(state, 0) + 1
        self.enqueue(("lq", *entry.lq))

    def _charge(self, entry: Entry, sign: int) -> None:
        queue = self.quotas.queues.get(entry.cq)
        lq = self.lq_usage.setdefault(entry.lq, {})
        for fr, amount in entry.usage.items():
            if queue is not None:
                queue.usage[fr] = queue.usage.get(fr, 0) + sign * amount
            lq[fr] = lq.get(fr, 0) + sign * amount
        if queue is not None:
            (queue.admitted.add if sign > 0 else queue.admitted.discard)(entry.key)

    def _release(self, entry: Entry) -> None:
        self._charge(entry, -1)
        entry.usage = {}
        self._touch(entry.cq)
        self.enqueue(("lq", *entry.lq))

    # ----------------------------------------------------------------- reconcile
    def reconcile(self, key: tuple) -> None:
        """Run a scheduling pass, or sync one Job, Workload, ClusterQueue or LocalQueue."""
        kind = key[0]
        if kind == "schedule":
            groups, self._groups = self._groups, set()
            for group in sorted(groups):
                self._schedule(group)
            fresh, self._fresh = self._fresh, set()
            for wl in fresh:
                self._explain(wl)
        elif kind == "job":
            self._sync_job(key[1], key[2])
        elif kind == "wl":
            self._explain(key[1:])
        elif kind == "cq":
            status.write_cluster_queue(self, key[1])
        elif kind == "lq":
            status.write_local_queue(self, key[1:])

    def _active(self, queue: Queue) -> bool:
        """Return whether the queue admits: not stopped, every flavor it names exists."""
        if queue.stopped or queue.terminating:
            return False
        return all(f in self.flavors for f in queue.flavor_names())

    def _requests(self, queue: Queue, entry: Entry) -> dict[str, int]:
        covered = {r for g in queue.groups for r in g.covered}
        return {r: v for r, v in entry.requests.items() if v and (r != "pods" or r in covered)}

    def _compatible(self, queue: Queue, entry: Entry) -> set[str]:
        selector, tolerations = entry.placement
        return {
            name
            for name in queue.flavor_names()
            if name in self.flavors
            and jobsync.compatible(self.flavors[name], selector, tolerations)
        }

    def _assess(self, queue: Queue, entry: Entry) -> tuple[str, dict[str, str], str]:
        return self.quotas.assign(
            queue, self._requests(queue, entry), self._compatible(queue, entry)
        )

    def _schedule(self, group: str) -> None:
        """Admit what fits in a cohort (or lone queue), in Kueue's order, preempting where
        the queues' policies allow; a StrictFIFO queue stops at its first misfit."""
        queues = [q for q in self.quotas.members(group) if self._active(q)]
        failed: dict[str, set[tuple]] = {q.name: set() for q in queues}
        blocked: set[str] = set()
        while True:
            candidates = []
            for queue in queues:
                if queue.name in blocked:
                    continue
                head = min(queue.heads(failed[queue.name]), default=None)
                if head is None:
                    continue
                entry = self.entries[head[2]]
                mode, flavors, message = self._assess(queue, entry)
                candidates.append(
                    ((mode != FIT, entry.order), queue, entry, mode, flavors, message)
                )
            if not candidates:
                return
            candidates.sort(key=lambda c: c[0])
            admitted = False
            for _, queue, entry, mode, flavors, message in candidates:
                if mode in (FIT, BORROW) and not admitted:
                    self._admit(queue, entry, flavors)
                    admitted = True
                elif mode not in (FIT, BORROW):
                    self._misfit(queue, entry, mode, flavors, message)
                    failed[queue.name].add(entry.shape)
                    if queue.strategy == "StrictFIFO":
                        blocked.add(queue.name)

    def _misfit(
        self, queue: Queue, entry: Entry, mode: str, flavors: dict[str, str], message: str
    ) -> None:
        reason = "ExceedsMaxQuota" if "maximum capacity" in message else "WaitingForQuota"
        if mode != NOFIT:
            evicting = any(
                q.evicting > 0 for q in self.quotas.members(self.quotas.group_of(queue.name))
            )
            victims = None if evicting else self._victims(queue, entry, flavors)
            if victims:
                self._preempt(queue, entry, victims)
                reason = "WaitingForPreemptedWorkloads"
                message += f". Pending the preemption of {len(victims)} workload(s)"
            elif evicting:
                reason = "WaitingForPreemptedWorkloads"
        self._pending(entry, reason, f"couldn't assign flavors to pod set main: {message}")

    def _group_admitted(self, queue: Queue) -> list[Key]:
        names = (
            self.quotas.cohorts.get(queue.cohort, {queue.name}) if queue.cohort else {queue.name}
        )
        return [k for n in names if n in self.quotas.queues for k in self.quotas.queues[n].admitted]

    def _victims(self, queue: Queue, entry: Entry, flavors: dict[str, str]) -> list | None:
        need = {(flavors[r], r): v for r, v in self._requests(queue, entry).items() if r in flavors}
        candidates = []
        for key in self._group_admitted(queue):
            other = self.entries.get(key)
            if other is not None and other.state == "admitted":
                candidates.append(
                    (
                        other.cq,
                        other.priority,
                        other.admitted_at,
                        other.usage,
                        key,
                        other.created > entry.created,
                    )
                )
        return self.quotas.victims(queue, need, entry.priority, candidates)

    # ----------------------------------------------------------------- transitions
    def _admit(self, queue: Queue, entry: Entry, flavors: dict[str, str]) -> None:
        queue.drop_pending(entry.shape, entry.order, entry.key)
        self._state(entry, "admitted")
        entry.flavors = dict(flavors)
        entry.usage = {
            (flavors[r], r): v for r, v in self._requests(queue, entry).items() if r in flavors
        }
        entry.admitted_at = next_seq()  # admission order (candidates newest first)
        self._charge(entry, +1)
        self.admissions += 1
        self.enqueue(("cq", queue.name))  # this pass goes on admitting: no new pass
        self.enqueue(("lq", *entry.lq))
        self._fresh.discard(entry.key)
        admission = status.admission(queue.name, entry, flavors)

        def admit(st: dict, conditions: list) -> None:
            st["admission"] = admission
            gen = entry.generation
            set_condition(
                conditions,
                "QuotaReserved",
                "True",
                "QuotaReserved",
                f"Quota reserved in ClusterQueue {queue.name}",
                gen,
            )
            reset_condition(conditions, "Evicted", gen)
            reset_condition(conditions, "Preempted", gen)
            set_condition(
                conditions, "Admitted", "True", "Admitted", "The workload is admitted", gen
            )

        obj = self._write(entry, admit)
        if obj is not None:
            self.events.record(
                obj,
                "Workload",
                "Normal",
                "QuotaReserved",
                f"Quota reserved in ClusterQueue {queue.name}",
                COMPONENT,
            )
            self.events.record(
                obj,
                "Workload",
                "Normal",
                "Admitted",
                f"Admitted by ClusterQueue {queue.name}, wait time since reservation was 0s",
                COMPONENT,
            )
        if entry.job:
            self.enqueue(("job", entry.key[0], entry.job))

    def _preempt(self, queue: Queue, preemptor: Entry, victims: list[tuple[Key, str]]) -> None:
        path = f"/{queue.cohort}/{queue.name}" if queue.cohort else f"/{queue.name}"
        for key, reason in victims:
            victim = self.entries[key]
            other = self.quotas.queues.get(victim.cq)
            victim_path = (
                f"/{other.cohort}/{other.name}" if other and other.cohort else f"/{victim.cq}"
            )
            message = (
                f"Preempted to accommodate a workload (UID: {preemptor.uid}, JobUID: "
                f"{preemptor.job_uid or 'UNKNOWN'}) due to {_REASONS[reason]}; "
                f"preemptor path: {path}; preemptee path: {victim_path}"
            )
            self._state(victim, "evicting")
            victim.evicted = message

            def evict(
                st: dict,
                conditions: list,
                reason: str = reason,
                message: str = message,
                gen: int = victim.generation,
            ) -> None:
                set_condition(conditions, "Preempted", "True", reason, message, gen)
                set_condition(conditions, "Evicted", "True", "Preempted", message, gen)

            obj = self._write(victim, evict)
            if obj is not None:
                self.events.record(obj, "Workload", "Normal", "Preempted", message, COMPONENT)
            if victim.job:
                self.enqueue(("job", victim.key[0], victim.job))
            else:
                self._requeue(victim)

    def _requeue(self, entry: Entry) -> None:
        """Give back an evicted workload's quota and queue it again (ordered by the time
        of its eviction, as Kueue's default requeuingTimestamp)."""
        self._release(entry)
        message = entry.evicted

        def requeued(st: dict, conditions: list) -> None:
            st.pop("admission", None)
            gen = entry.generation
            set_condition(conditions, "Requeued", "True", "Preempted", message, gen)
            set_condition(conditions, "QuotaReserved", "False", "PendingEvaluation", message, gen)
            set_condition(
                conditions,
                "Admitted",
                "False",
                "NoReservation",
                "The workload has no reservation",
                gen,
            )

        self._write(entry, requeued)
        entry.seq = next_seq()
        entry.flavors = {}
        self._place(entry)
        self._fresh.discard(entry.key)

    def _finish(self, entry: Entry, outcome: tuple[str, str]) -> None:
        self._unqueue(entry)
        if entry.state in ("admitted", "evicting"):
            self._release(entry)
        elif entry.cq:
            self._touch(entry.cq)
            self.enqueue(("lq", *entry.lq))
        self._state(entry, "finished")
        reason, message = outcome

        def finish(st: dict, conditions: list) -> None:
            set_condition(conditions, "Finished", "True", reason, message, entry.generation)

        self._write(entry, finish)

    def _pending(self, entry: Entry, reason: str, message: str) -> None:
        def pending(st: dict, conditions: list) -> None:
            set_condition(conditions, "QuotaReserved", "False", reason, message, entry.generation)

        self._write(entry, pending)

    def _explain(self, key: Key) -> None:
        """Write why a queued workload waits (evaluated on its own)."""
        entry = self.entries.get(key)
        if entry is None or entry.state not in ("pending", "waiting"):
            return
        if entry.state == "waiting":
            missing = self.lqs.get(entry.lq)
            message = (
                f"LocalQueue {entry.queue_name} doesn't exist"
                if missing is None
                else f"ClusterQueue {missing} doesn't exist"
            )
            self._pending(entry, "Misconfigured", message)
            return
        queue = self.quotas.queues[entry.cq]
        if not self._active(queue):
            self._pending(entry, "Suspended", f"ClusterQueue {queue.name} is inactive")
            return
        mode, _flavors, message = self._assess(queue, entry)
        if mode in (FIT, BORROW):
            return  # the next pass admits it
        reason = "ExceedsMaxQuota" if "maximum capacity" in message else "WaitingForQuota"
        self._pending(entry, reason, f"couldn't assign flavors to pod set main: {message}")

    def _write(self, entry: Entry, mutate: Any) -> dict | None:
        """Apply ``mutate(status, conditions)`` to the Workload's status; return it."""
        obj = self.store.peek(WORKLOADS, entry.key[1], namespace=entry.key[0])
        if obj is None or obj["metadata"].get("uid") != entry.uid:
            return None
        st = clone(obj.get("status") or {})
        mutate(st, st.setdefault("conditions", []))
        if st == obj.get("status"):
            return obj
        return self.store.update(WORKLOADS, {**obj, "status": st}, subresource="status")

    # ----------------------------------------------------------------- jobs
    def _sync_job(self, namespace: str, name: str) -> None:
        job = self.store.peek(JOBS, name, namespace=namespace)
        if job is None:
            return
        meta = job["metadata"]
        key = self.by_job.get(meta.get("uid", ""))
        entry = self.entries.get(key) if key else None
        outcome = jobsync.finished(job)
        if entry is None:
            if outcome is None and (meta.get("labels") or {}).get(QUEUE_LABEL):
                jobsync.create_workload(self, job)
            return
        if outcome is not None:
            if entry.state != "finished":
                self._finish(entry, outcome)
            return
        suspended = bool((job.get("spec") or {}).get("suspend"))
        if entry.state == "admitted" and suspended:
            chosen = sorted(set(entry.flavors.values()))
            flavors = [self.flavors.get(f, {}) for f in chosen]
            self.store.update(JOBS, jobsync.started(job, flavors))
            self.events.record(
                job, "Job", "Normal", "Started", f"Admitted by clusterQueue {entry.cq}", COMPONENT
            )
        elif entry.state != "admitted" and not suspended:
            original = (entry.podsets[0] if entry.podsets else {}).get("template") or {}
            self.store.update(JOBS, jobsync.stopped(job, original))
            if entry.state == "evicting":
                self.events.record(job, "Job", "Normal", "Stopped", entry.evicted, COMPONENT)
        elif entry.state == "evicting" and not (job.get("status") or {}).get("active"):
            self._requeue(entry)


__all__ = ["KueueController", "quantity"]
