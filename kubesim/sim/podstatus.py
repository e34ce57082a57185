"""The pod status a kubelet reports for a `PodSim`: phase, conditions, container states."""

from __future__ import annotations

from typing import Any

from .containers import PodSim
from .util import now_iso


def condition(
    sim: PodSim,
    ctype: str,
    status: str,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    previous = sim.transitions.get(ctype)
    if previous is None or previous[0] != status:
        previous = (status, now_iso())
        sim.transitions[ctype] = previous
    cond: dict[str, Any] = {
        "type": ctype,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": previous[1],
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def build_status(sim: PodSim, pod: dict[str, Any]) -> dict[str, Any]:
    """Return the full pod status implied by `sim` (keeps the scheduler's PodScheduled)."""
    phase = sim.phase
    if phase is None:
        started = any(c.running or c.restart_count or c.terminated for c in sim.main)
        phase = "Running" if started else "Pending"
    initialized = sim.init_done >= len(sim.init)
    unready = [c.name for c in sim.main if not c.ready]
    terminal = sim.phase is not None
    conditions = [
        condition(sim, "PodReadyToStartContainers", "True" if sim.sandbox_ready else "False")
    ]
    if initialized:
        conditions.append(condition(sim, "Initialized", "True"))
    else:
        pending = " ".join(c.name for c in sim.init[sim.init_done :])
        conditions.append(
            condition(
                sim,
                "Initialized",
                "False",
                "ContainersNotInitialized",
                f"containers with incomplete status: [{pending}]",
            )
        )
    if terminal:
        why = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        conditions.append(condition(sim, "Ready", "False", why))
        conditions.append(condition(sim, "ContainersReady", "False", why))
    elif unready:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        conditions.append(condition(sim, "Ready", "False", "ContainersNotReady", msg))
        conditions.append(condition(sim, "ContainersReady", "False", "ContainersNotReady", msg))
    else:
        conditions.append(condition(sim, "Ready", "True"))
        conditions.append(condition(sim, "ContainersReady", "True"))
    scheduled = next(
        (
            c
            for c in (pod.get("status") or {}).get("conditions") or []
            if c.get("type") == "PodScheduled"
        ),
        None,
    )
    conditions.append(scheduled or condition(sim, "PodScheduled", "True"))
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": sim.host_ip,
        "hostIPs": [{"ip": sim.host_ip}] if sim.host_ip else [],
        "startTime": sim.start_time,
        "qosClass": sim.qos,
        "containerStatuses": [c.status() for c in sim.main],
        "reason": sim.reason,
        "message": sim.message,
    }
    if sim.pod_ip:
        status["podIP"] = sim.pod_ip
        status["podIPs"] = [{"ip": sim.pod_ip}]
    if sim.init:
        status["initContainerStatuses"] = [c.status() for c in sim.init]
    return status
