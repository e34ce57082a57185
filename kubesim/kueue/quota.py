"""Kueue's quota arithmetic: ClusterQueues, cohorts, flavor assignment and preemption.

Quantities are integer milli-units. A ClusterQueue in a cohort keeps ``nominal -
lendingLimit`` of each (flavor, resource) to itself and offers the rest to the cohort;
what it may use is its unused guaranteed part plus the cohort's unused offered part,
capped at ``nominal + borrowingLimit`` (Kueue's hierarchical quota, one level deep).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubesim.quantity import QuantityError, format_quantity, to_milli

FR = tuple[str, str]  # (flavor, resource)
FIT, BORROW, PREEMPT, NOFIT = "Fit", "Borrow", "Preempt", "NoFit"
_BINARY = ("memory", "ephemeral-storage", "storage")


def milli(value: Any) -> int:
    """Return a quantity in milli-units (0 for a malformed one)."""
    try:
        return to_milli(value)
    except (QuantityError, ValueError, ArithmeticError):
        return 0


def quantity(resource: str, value: int) -> str:
    """Return milli-units as a Kubernetes quantity string ("4", "500m", "8Gi")."""
    binary = resource in _BINARY or resource.endswith("storage")
    return format_quantity(Decimal(value) / 1000, binary=binary)


@dataclass(slots=True)
class Quota:
    """One resource's quota in one flavor of a ClusterQueue."""

    nominal: int
    borrowing: int | None = None
    lending: int | None = None

    @property
    def guaranteed(self) -> int:
        """Return the part never lent to the cohort."""
        return self.nominal - self.lendable

    @property
    def lendable(self) -> int:
        """Return the part offered to the cohort."""
        return self.nominal if self.lending is None else min(self.lending, self.nominal)


@dataclass(slots=True)
class Group:
    """A resource group: the resources it covers and its flavors in order of preference."""

    covered: tuple[str, ...]
    flavors: list[tuple[str, dict[str, Quota]]]


@dataclass(eq=False)
class Queue:
    """A ClusterQueue's spec as the simulation uses it, its usage and its pending queue."""

    name: str
    cohort: str = ""
    strategy: str = "BestEffortFIFO"
    groups: list[Group] = field(default_factory=list)
    within: str = "Never"
    reclaim: str = "Never"
    borrow_policy: str = "Never"  # preemption.borrowWithinCohort.policy
    borrow_threshold: int | None = None  # its maxPriorityThreshold
    stopped: bool = False
    terminating: bool = False  # deleted, held by its finalizer while it has workloads
    usage: dict[FR, int] = field(default_factory=dict)
    # shape -> sorted [(order, key)] of pending workloads with the same requests
    pending: dict[tuple, list[tuple[tuple, tuple[str, str]]]] = field(default_factory=dict)
    admitted: set[tuple[str, str]] = field(default_factory=set)
    evicting: int = 0  # admitted workloads being evicted (their quota not yet free)

    def quota(self, fr: FR) -> Quota | None:
        """Return the quota of (flavor, resource), or None when the queue has none."""
        for group in self.groups:
            if fr[1] in group.covered:
                for flavor, quotas in group.flavors:
                    if flavor == fr[0]:
                        return quotas.get(fr[1])
        return None

    def flavor_names(self) -> list[str]:
        """Return every flavor the queue names, in spec order."""
        return [f for g in self.groups for f, _ in g.flavors]

    def pending_count(self) -> int:
        """Return how many workloads wait in this queue."""
        return sum(len(items) for items in self.pending.values())

    def add_pending(self, shape: tuple, order: tuple, key: tuple[str, str]) -> None:
        """Queue a workload (kept sorted by ``order``)."""
        bisect.insort(self.pending.setdefault(shape, []), (order, key))

    def drop_pending(self, shape: tuple, order: tuple, key: tuple[str, str]) -> None:
        """Remove a queued workload (no-op when absent)."""
        items = self.pending.get(shape)
        if not items:
            return
        i = bisect.bisect_left(items, (order, key))
        if i < len(items) and items[i] == (order, key):
            del items[i]
            if not items:
                del self.pending[shape]

    def heads(self, skip: set[tuple]) -> Iterator[tuple[tuple, tuple, tuple[str, str]]]:
        """Yield (order, shape, key) of each shape's first workload, shapes in ``skip``
        left out."""
        for shape, items in self.pending.items():
            if shape not in skip and items:
                yield items[0][0], shape, items[0][1]


def parse_queue(name: str, spec: dict) -> Queue:
    """Return the ``Queue`` a ClusterQueue spec (v1beta2) describes."""
    groups = []
    for raw in spec.get("resourceGroups") or ():
        flavors = []
        for flavor in raw.get("flavors") or ():
            quotas = {}
            for res in flavor.get("resources") or ():
                quotas[res.get("name", "")] = Quota(
                    milli(res.get("nominalQuota", 0)),
                    milli(res["borrowingLimit"]) if res.get("borrowingLimit") is not None else None,
                    milli(res["lendingLimit"]) if res.get("lendingLimit") is not None else None,
                )
            flavors.append((flavor.get("name", ""), quotas))
        groups.append(Group(tuple(raw.get("coveredResources") or ()), flavors))
    preemption = spec.get("preemption") or {}
    borrow = preemption.get("borrowWithinCohort") or {}
    threshold = borrow.get("maxPriorityThreshold")
    return Queue(
        name=name,
        cohort=spec.get("cohortName") or "",
        strategy=spec.get("queueingStrategy") or "BestEffortFIFO",
        groups=groups,
        within=preemption.get("withinClusterQueue") or "Never",
        reclaim=preemption.get("reclaimWithinCohort") or "Never",
        borrow_policy=borrow.get("policy") or "Never",
        borrow_threshold=int(threshold) if threshold is not None else None,
        stopped=spec.get("stopPolicy") in ("Hold", "HoldAndDrain"),
    )


class Quotas:
    """Every ClusterQueue and cohort: what each may still use, and who to preempt."""

    def __init__(self) -> None:
        self.queues: dict[str, Queue] = {}
        self.cohorts: dict[str, set[str]] = {}

    def put(self, queue: Queue) -> None:
        """Add or replace a queue (keeping its usage, pending and admitted sets)."""
        old = self.queues.get(queue.name)
        if old is not None:
            queue.usage, queue.pending, queue.admitted = old.usage, old.pending, old.admitted
            queue.evicting = old.evicting
            self.cohorts.get(old.cohort, set()).discard(old.name)
        self.queues[queue.name] = queue
        if queue.cohort:
            self.cohorts.setdefault(queue.cohort, set()).add(queue.name)

    def remove(self, name: str) -> Queue | None:
        """Forget a queue; return it."""
        queue = self.queues.pop(name, None)
        if queue is not None and queue.cohort:
            self.cohorts.get(queue.cohort, set()).discard(name)
        return queue

    def group_of(self, name: str) -> str:
        """Return the scheduling group of a queue: its cohort, or the queue alone."""
        queue = self.queues.get(name)
        return f"cohort:{queue.cohort}" if queue and queue.cohort else f"cq:{name}"

    def members(self, group: str) -> list[Queue]:
        """Return the queues of a scheduling group."""
        kind, _, name = group.partition(":")
        names = self.cohorts.get(name, set()) if kind == "cohort" else {name}
        return [self.queues[n] for n in sorted(names) if n in self.queues]

    # ----------------------------------------------------------------- arithmetic
    def _peers(self, queue: Queue) -> list[Queue]:
        if not queue.cohort:
            return []
        return [self.queues[n] for n in self.cohorts.get(queue.cohort, ()) if n in self.queues]

    def available(self, queue: Queue, fr: FR, usage: dict[str, dict[FR, int]] | None = None) -> int:
        """Return how much of ``fr`` the queue may still use (``usage`` overrides the
        recorded usage of some queues, for preemption simulations)."""
        quota = queue.quota(fr)
        if quota is None:
            return 0

        def used(q: Queue) -> int:
            if usage is not None and q.name in usage:
                return usage[q.name].get(fr, 0)
            return q.usage.get(fr, 0)

        mine = used(queue)
        if not queue.cohort:
            return max(0, quota.nominal - mine)
        pool = spent = 0
        for peer in self._peers(queue):
            peer_quota = peer.quota(fr)
            guaranteed = peer_quota.guaranteed if peer_quota else 0
            pool += peer_quota.lendable if peer_quota else 0
            spent += max(0, used(peer) - guaranteed)
        free = max(0, quota.guaranteed - mine) + max(0, pool - spent)
        if quota.borrowing is not None:
            free = min(free, quota.nominal + quota.borrowing - mine)
        return max(0, free)

    def ceiling(self, queue: Queue, fr: FR) -> int:
        """Return the most of ``fr`` the queue could ever hold (all its peers idle)."""
        quota = queue.quota(fr)
        if quota is None:
            return 0
        if not queue.cohort:
            return quota.nominal
        pool = sum((p.quota(fr).lendable if p.quota(fr) else 0) for p in self._peers(queue))
        top = quota.guaranteed + pool
        if quota.borrowing is not None:
            top = min(top, quota.nominal + quota.borrowing)
        return top

    def borrowed(self, queue: Queue, fr: FR) -> int:
        """Return how much of ``fr`` the queue uses beyond its nominal quota."""
        quota = queue.quota(fr)
        return max(0, queue.usage.get(fr, 0) - (quota.nominal if quota else 0))

    def assign(
        self, queue: Queue, requests: dict[str, int], compatible: set[str] | None = None
    ) -> tuple[str, dict[str, str], str]:
        """Choose a flavor per resource group for ``requests``.

        Returns (mode, {resource: flavor}, message): mode FIT or BORROW with the flavors
        found, PREEMPT with the first flavors that fit the nominal quota (preemption may
        free them), or NOFIT with Kueue's "insufficient quota" sentences.
        ``compatible`` names the flavors whose node labels and taints the pods accept.
        """
        chosen: dict[str, str] = {}
        mode = FIT
        notes: list[str] = []
        for resource in requests:
            if not any(resource in g.covered for g in self.queues[queue.name].groups):
                return NOFIT, {}, f"resource {resource} unavailable in ClusterQueue"
        for group in queue.groups:
            wanted = {r: v for r, v in requests.items() if r in group.covered}
            if not wanted:
                continue
            found = self._assign_group(queue, group, wanted, compatible, notes)
            if found is None:
                return NOFIT, {}, ", ".join(notes)
            flavor, group_mode = found
            chosen.update({r: flavor for r in wanted})
            mode = max(mode, group_mode, key=(FIT, BORROW, PREEMPT).index)
        return mode, chosen, ", ".join(notes)

    def _assign_group(
        self,
        queue: Queue,
        group: Group,
        wanted: dict[str, int],
        compatible: set[str] | None,
        notes: list[str],
    ) -> tuple[str, str] | None:
        preempt_at: str | None = None
        for flavor, quotas in group.flavors:
            if compatible is not None and flavor not in compatible:
                notes.append(f"flavor {flavor} doesn't match node affinity or tolerations")
                continue
            mode = FIT
            for resource, amount in wanted.items():
                fr = (flavor, resource)
                used = queue.usage.get(fr, 0)
                quota = quotas.get(resource)
                top = self.ceiling(queue, fr)
                if quota is None or amount > top:
                    notes.append(
                        f"insufficient quota for {resource} in flavor {flavor}, previously "
                        f"considered podsets requests (0) + current podset request "
                        f"({quantity(resource, amount)}) > maximum capacity "
                        f"({quantity(resource, top)})"
                    )
                    mode = NOFIT
                    break
                free = self.available(queue, fr)
                if amount > free:
                    notes.append(
                        f"insufficient unused quota for {resource} in flavor {flavor}, "
                        f"{quantity(resource, amount - free)} more needed"
                    )
                    mode = PREEMPT if mode != NOFIT else mode
                elif used + amount > quota.nominal and mode == FIT:
                    mode = BORROW
            if mode in (FIT, BORROW):
                return flavor, mode
            if mode == PREEMPT and preempt_at is None:
                preempt_at = flavor
        return (preempt_at, PREEMPT) if preempt_at is not None else None

    # ----------------------------------------------------------------- preemption
    def victims(
        self,
        queue: Queue,
        need: dict[FR, int],
        priority: int,
        candidates: Iterable[tuple[str, int, int, dict[FR, int], tuple[str, str], bool]],
    ) -> list[tuple[tuple[str, str], str]] | None:
        """Return [(workload key, reason)] whose eviction lets ``need`` fit the queue's
        nominal quota (or, with ``borrowWithinCohort``, fit while borrowing), or None.

        ``candidates`` are admitted workloads as (cluster queue, priority, admitted at,
        usage, key, queued after the preemptor). Kueue's order: other queues' (borrowing)
        workloads first, then lower priority, then the most recently admitted; then the
        fewest are kept.
        """
        candidates = [c for c in candidates if any(fr in need for fr in c[3])]
        plan = self._select(queue, need, self._usable(queue, priority, candidates, False), False)
        if plan is None and queue.borrow_policy == "LowerPriority":
            usable = self._usable(queue, priority, candidates, True)
            plan = self._select(queue, need, usable, True)
        return plan

    @staticmethod
    def _usable(queue: Queue, priority: int, candidates: list, borrowing: bool) -> list[tuple]:
        usable = []
        for cq, prio, at, usage, key, newer in candidates:
            if cq == queue.name:
                equal_ok = queue.within == "LowerOrNewerEqualPriority" and newer
                if queue.within == "Never" or (
                    prio >= priority and not (prio == priority and equal_ok)
                ):
                    continue
                usable.append((1, prio, -at, cq, usage, key, "InClusterQueue"))
            elif borrowing:
                limit = queue.borrow_threshold
                if prio >= priority or (limit is not None and prio > limit):
                    continue
                usable.append((0, prio, -at, cq, usage, key, "InCohortReclaimWhileBorrowing"))
            elif queue.reclaim != "Never" and (queue.reclaim == "Any" or prio < priority):
                usable.append((0, prio, -at, cq, usage, key, "InCohortReclamation"))
        usable.sort(key=lambda c: c[:3])
        return usable

    def _select(
        self, queue: Queue, need: dict[FR, int], usable: list[tuple], borrowing: bool
    ) -> list[tuple[tuple[str, str], str]] | None:
        sim: dict[str, dict[FR, int]] = {}
        removed = []
        for item in usable:
            if self._fits(queue, need, sim, borrowing):
                break
            cq, usage = item[3], item[4]
            other = self.queues.get(cq)
            if other is None or (cq != queue.name and not self._borrows(other, usage, need, sim)):
                continue  # that queue no longer borrows what we need
            self._take(other, usage, sim, -1)
            removed.append(item)
        if not self._fits(queue, need, sim, borrowing):
            return None
        for item in reversed(list(removed)):
            other = self.queues[item[3]]
            self._take(other, item[4], sim, +1)
            if self._fits(queue, need, sim, borrowing):
                removed.remove(item)
            else:
                self._take(other, item[4], sim, -1)
        return [(item[5], item[6]) for item in removed] or None

    def _borrows(self, queue: Queue, usage: dict, need: dict, sim: dict) -> bool:
        return any(
            self._using(queue, fr, sim) > (queue.quota(fr).nominal if queue.quota(fr) else 0)
            for fr in usage
            if fr in need
        )

    @staticmethod
    def _using(queue: Queue, fr: FR, sim: dict[str, dict[FR, int]]) -> int:
        return sim.get(queue.name, queue.usage).get(fr, 0)

    @staticmethod
    def _take(queue: Queue, usage: dict[FR, int], sim: dict[str, dict[FR, int]], sign: int) -> None:
        current = sim.setdefault(queue.name, dict(queue.usage))
        for fr, amount in usage.items():
            current[fr] = current.get(fr, 0) + sign * amount

    def _fits(
        self, queue: Queue, need: dict[FR, int], sim: dict[str, dict[FR, int]], borrowing: bool
    ) -> bool:
        for fr, amount in need.items():
            quota = queue.quota(fr)
            mine = self._using(queue, fr, sim)
            if quota is None or (not borrowing and mine + amount > quota.nominal):
                return False  # only borrowWithinCohort makes room to borrow
            if amount > self.available(queue, fr, sim):
                return False
        return True
