"""Small helpers shared by the simulated controllers: time stamps, names, owner references."""

from __future__ import annotations

import calendar
import random
import time
from datetime import UTC, datetime
from typing import Any

# The alphabet Kubernetes uses for generated name suffixes (no vowels, no confusable digits).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_rng = random.Random()


def now_iso(ts: float | None = None) -> str:
    """Return `ts` (default: now) as an RFC 3339 UTC timestamp with second precision."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def rand_suffix(length: int = 5) -> str:
    """Return a random name suffix of `length` characters from the Kubernetes alphabet."""
    return "".join(_rng.choice(_SUFFIX_ALPHABET) for _ in range(length))


def obj_key(obj: dict[str, Any]) -> tuple[str, str]:
    """Return the (namespace, name) key of `obj`; namespace is "" for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


def controller_uid(obj: dict[str, Any]) -> str | None:
    """Return the uid of the controlling owner of `obj` (ownerReference with controller=true)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("uid")
    return None


def controller_kind(obj: dict[str, Any]) -> str | None:
    """Return the kind of the controlling owner of `obj`, or None when it has none."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("kind")
    return None


def owner_reference(owner: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """Return a controller ownerReference pointing at `owner` (blockOwnerDeletion set)."""
    meta = owner["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def set_condition(
    conditions: list[dict[str, Any]],
    ctype: str,
    status: str,
    reason: str | None = None,
    message: str | None = None,
    *,
    now: str | None = None,
    probe_times: bool = False,
) -> bool:
    """Set condition `ctype` in `conditions` in place.

    lastTransitionTime changes only when the status flips (as in Kubernetes).  Returns True
    when anything changed.  With `probe_times` the condition also carries lastProbeTime /
    lastUpdateTime style fields handled by the caller; here only lastTransitionTime is kept.
    """
    stamp = now or now_iso()
    for cond in conditions:
        if cond.get("type") != ctype:
            continue
        changed = False
        if cond.get("status") != status:
            cond["status"] = status
            cond["lastTransitionTime"] = stamp
            changed = True
        for field, value in (("reason", reason), ("message", message)):
            if value is not None and cond.get(field) != value:
                cond[field] = value
                changed = True
        return changed
    cond = {"type": ctype, "status": status, "lastTransitionTime": stamp}
    if probe_times:
        cond["lastProbeTime"] = None
    if reason is not None:
        cond["reason"] = reason
    if message is not None:
        cond["message"] = message
    conditions.append(cond)
    return True


def get_condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    """Return the status condition of type `ctype` of `obj`, or None."""
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == ctype:
            return cond
    return None


def pod_is_terminal(pod: dict[str, Any]) -> bool:
    """Return True when the pod phase is Succeeded or Failed."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_is_ready(pod: dict[str, Any]) -> bool:
    """Return True when the pod has condition Ready=True."""
    cond = get_condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def seconds_since(stamp: str | None) -> float:
    """Return wall-clock seconds elapsed since RFC 3339 `stamp` (0 when missing/invalid)."""
    if not stamp:
        return 0.0
    try:
        moment = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0.0
    return max(0.0, time.time() - moment)
