"""ResourceQuota admission for pods and bookkeeping of ``status.used``."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from kubesim.errors import ApiError
from kubesim.quantity import QuantityError, format_quantity, parse_quantity

TERMINAL_PHASES = ("Succeeded", "Failed")
# Compute resources a quota forces every container to declare (extended ones default to 0).
_MUST_SPECIFY = ("cpu", "memory", "ephemeral-storage")


def normalize_key(key: str) -> str:
    """Return the canonical usage key: bare ``cpu`` means ``requests.cpu``; count/pods is pods."""
    if key in ("cpu", "memory", "ephemeral-storage"):
        return f"requests.{key}"
    if key == "count/pods":
        return "pods"
    return key


def _qty(value: object) -> Decimal:
    try:
        return parse_quantity(value)  # type: ignore[arg-type]
    except QuantityError:
        return Decimal(0)


def pod_usage(pod: dict) -> dict[str, Decimal]:
    """Return the pod's quota usage: ``requests.X``/``limits.X`` sums plus ``pods: 1``.

    Init containers run one at a time, so each resource is the max of the largest init
    container and the sum of the regular containers (Kubernetes' effective request).
    """
    spec = pod.get("spec") or {}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for name, value in (res.get(kind) or {}).items():
                totals[f"{kind}.{name}"] += _qty(value)
    for c in spec.get("initContainers") or []:
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for name, value in (res.get(kind) or {}).items():
                key = f"{kind}.{name}"
                totals[key] = max(totals[key], _qty(value))
    totals["pods"] = Decimal(1)
    return dict(totals)


def counts_against_quota(pod: dict | None) -> bool:
    """Return whether ``pod`` consumes quota (exists and is not Succeeded/Failed)."""
    return pod is not None and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES


def format_usage(key: str, value: Decimal) -> str:
    """Return ``value`` formatted for ``status.used`` (binary suffixes for byte quantities)."""
    binary = "memory" in key or "storage" in key
    return format_quantity(value, binary=binary)


class QuotaTracker:
    """Running per-namespace totals of pod usage, and the admission check against quotas."""

    def __init__(self) -> None:
        self._used: dict[str, dict[str, Decimal]] = {}

    def used(self, namespace: str) -> dict[str, Decimal]:
        """Return the namespace's current totals (a live view; do not mutate)."""
        return self._used.get(namespace, {})

    def on_pod_change(self, namespace: str, old: dict | None, new: dict | None) -> bool:
        """Account for a pod being added, changed or removed; return whether totals changed."""
        before = counts_against_quota(old)
        after = counts_against_quota(new)
        if not before and not after:
            return False
        old_usage = pod_usage(old) if before and old else {}
        new_usage = pod_usage(new) if after and new else {}
        if old_usage == new_usage:
            return False
        totals = self._used.setdefault(namespace, defaultdict(Decimal))
        for k, v in old_usage.items():
            totals[k] -= v
        for k, v in new_usage.items():
            totals[k] += v
        return True

    def forget(self, namespace: str) -> None:
        """Drop the totals of a deleted namespace."""
        self._used.pop(namespace, None)

    def status_for(self, quota: dict) -> dict:
        """Return the ``status`` (``hard`` and ``used``) a quota should carry right now."""
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        totals = self.used(quota["metadata"].get("namespace", ""))
        used = {k: format_usage(k, totals.get(normalize_key(k), Decimal(0))) for k in hard}
        return {"hard": hard, "used": used}

    def admit(self, pod_name: str, pod: dict, quotas: list[dict]) -> None:
        """Raise 403 Forbidden if creating ``pod`` would break any quota, else return None."""
        if not counts_against_quota(pod) or not quotas:
            return
        usage = pod_usage(pod)
        namespace = pod["metadata"].get("namespace", "")
        totals = self.used(namespace)
        containers = (pod.get("spec") or {}).get("containers") or []
        for quota in sorted(quotas, key=lambda q: q["metadata"]["name"]):
            qname = quota["metadata"]["name"]
            hard = (quota.get("spec") or {}).get("hard") or {}
            missing = self._missing(hard, containers)
            if missing:
                raise ApiError(
                    403,
                    "Forbidden",
                    f'pods "{pod_name}" is forbidden: failed quota: '
                    f"{qname}: must specify {'; '.join(missing)}",
                    {"name": pod_name, "kind": "pods"},
                )
            exceeded = []
            for key in sorted(hard):
                norm = normalize_key(key)
                requested = usage.get(norm, Decimal(0))
                if requested <= 0:
                    continue
                used = totals.get(norm, Decimal(0))
                if used + requested > _qty(hard[key]):
                    exceeded.append((key, requested, used, hard[key]))
            if exceeded:
                requested_s = ",".join(f"{k}={format_usage(k, r)}" for k, r, _, _ in exceeded)
                used_s = ",".join(f"{k}={format_usage(k, u)}" for k, _, u, _ in exceeded)
                limited_s = ",".join(f"{k}={h}" for k, _, _, h in exceeded)
                raise ApiError(
                    403,
                    "Forbidden",
                    f'pods "{pod_name}" is forbidden: exceeded quota: {qname}, '
                    f"requested: {requested_s}, used: {used_s}, limited: {limited_s}",
                    {"name": pod_name, "kind": "pods"},
                )

    @staticmethod
    def _missing(hard: dict, containers: list[dict]) -> list[str]:
        out = []
        for key in sorted(hard):
            norm = normalize_key(key)
            kind, _, resource = norm.partition(".")
            if kind not in ("requests", "limits") or resource not in _MUST_SPECIFY:
                continue
            lacking = [
                c.get("name", "")
                for c in containers
                if resource not in ((c.get("resources") or {}).get(kind) or {})
            ]
            if lacking:
                out.append(f"{norm} for: {','.join(lacking)}")
        return out
