"""The autoscaling/v2 HorizontalPodAutoscaler controller for Deployments and ReplicaSets.

Every sync period (15 s, divided by --speed) each HPA reads its target's pods' usage (the
metrics API's figures), compares CPU or memory utilization against requests (or an average
value) with Kubernetes' 10% tolerance, applies its behaviour (default: scale up at once by
max(4 pods, 100%), scale down by up to 100% after a 300 s stabilization window; windows and
periods divided by --speed), clamps to min/max and writes the target's replicas, the HPA's
status (currentReplicas, desiredReplicas, currentMetrics, conditions) and events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from kubesim.metrics_api import Usage, pod_usage
from kubesim.quantity import parse_quantity

from .events import EventRecorder
from .informer import Cluster, Controller, Key
from .util import now_iso, pod_is_ready, set_condition

SYNC_SECONDS = 15.0
TOLERANCE = 0.1
HPAS = "horizontalpodautoscalers.autoscaling"
TARGETS = {"Deployment": "deployments.apps", "ReplicaSet": "replicasets.apps"}
DEFAULT_UP = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
DEFAULT_DOWN = {
    "stabilizationWindowSeconds": 300,
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def _requests(pod: dict[str, Any], resource: str) -> float | None:
    total = 0.0
    for container in (pod.get("spec") or {}).get("containers") or ():
        value = ((container.get("resources") or {}).get("requests") or {}).get(resource)
        if value is None:
            return None
        total += float(parse_quantity(str(value)))
    return total


def metric_proposal(
    metric: dict[str, Any], pods: list[dict[str, Any]], usage: Usage, current: int
) -> tuple[int, dict[str, Any]]:
    """Return (replicas proposed by one Resource metric, its currentMetrics entry).

    Raises ValueError with the kubelet-style reason when the metric cannot be computed.
    """
    spec = metric.get("resource") or {}
    resource = spec.get("name", "cpu")
    target = spec.get("target") or {}
    index = 0 if resource == "cpu" else 1
    used = requested = 0.0
    for pod in pods:
        measured = pod_usage(pod, usage)
        request = _requests(pod, resource)
        if measured is None:
            continue
        if request is None and target.get("type", "Utilization") == "Utilization":
            raise ValueError(
                f"missing request for {resource} in container of pod {pod['metadata']['name']}"
            )
        used += sum(u[index] for u in measured.values())
        requested += request or 0.0
    if not pods:
        raise ValueError("no pods are running for the target")
    average = used / len(pods)
    value = f"{int(average * 1000)}m" if resource == "cpu" else str(int(average))
    if target.get("type", "Utilization") == "Utilization":
        utilization = 100.0 * used / requested if requested else 0.0
        ratio = utilization / float(target.get("averageUtilization") or 80)
        current_doc = {"averageUtilization": int(round(utilization)), "averageValue": value}
    else:
        goal = float(parse_quantity(str(target.get("averageValue") or "1")))
        ratio = average / goal if goal else 0.0
        current_doc = {"averageValue": value}
    proposal = current if abs(ratio - 1.0) <= TOLERANCE else math.ceil(ratio * len(pods))
    return proposal, {"type": "Resource", "resource": {"name": resource, "current": current_doc}}


def rate_limit(behaviour: dict[str, Any], current: int, desired: int) -> int:
    """Return `desired` limited by the scaling policies (per sync; periods not tracked)."""
    if desired == current:
        return desired
    up = desired > current
    rules = behaviour.get("scaleUp" if up else "scaleDown") or (DEFAULT_UP if up else DEFAULT_DOWN)
    if rules.get("selectPolicy") == "Disabled":
        return current
    limits = []
    for policy in rules.get("policies") or (DEFAULT_UP if up else DEFAULT_DOWN)["policies"]:
        value = int(policy.get("value", 0))
        step = value if policy.get("type") == "Pods" else math.ceil(current * value / 100)
        limits.append(current + step if up else current - step)
    if not limits:
        return desired
    chosen = (max if (rules.get("selectPolicy") or "Max") == "Max" else min)(limits)
    return min(desired, chosen) if up else max(desired, chosen)


class HpaController(Controller):
    """Scales Deployments and ReplicaSets toward their HPAs' metric targets."""

    name = "horizontal-pod-autoscaler"

    def __init__(
        self,
        store: Any,
        cluster: Cluster,
        recorder: EventRecorder,
        speed: float,
        usage: Callable[[], Usage],
    ) -> None:
        super().__init__()
        self._store = store
        self._cluster = cluster
        self._events = recorder
        self._speed = speed
        self._usage = usage
        self._history: dict[Key, list[tuple[float, int]]] = {}
        cluster.subscribe(HPAS, self._on_hpa)

    def _on_hpa(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        if event_type == "DELETED":
            self._history.pop(key, None)
        elif old is None or (old.get("spec") != obj.get("spec")):
            self.enqueue(key)

    def _pods(self, target: dict[str, Any]) -> list[dict[str, Any]]:
        meta = target.get("metadata") or {}
        selector = ((target.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return [
            p
            for p in self._cluster.pods.values()
            if (p.get("metadata") or {}).get("namespace") == meta.get("namespace")
            and all(
                ((p.get("metadata") or {}).get("labels") or {}).get(k) == v
                for k, v in selector.items()
            )
            and (p.get("status") or {}).get("phase") == "Running"
            and pod_is_ready(p)
            and not (p.get("metadata") or {}).get("deletionTimestamp")
        ]

    def _stabilize(self, key: Key, behaviour: dict[str, Any], current: int, proposal: int) -> int:
        now = time.monotonic()
        history = self._history.setdefault(key, [])
        history.append((now, proposal))
        up = (behaviour.get("scaleUp") or DEFAULT_UP).get("stabilizationWindowSeconds", 0)
        down = (behaviour.get("scaleDown") or DEFAULT_DOWN).get("stabilizationWindowSeconds", 300)
        keep = max(up, down) / self._speed
        history[:] = [(t, r) for t, r in history if now - t <= keep]
        up_floor = min((r for t, r in history if now - t <= up / self._speed), default=proposal)
        down_cap = max((r for t, r in history if now - t <= down / self._speed), default=proposal)
        if proposal > current:
            return max(current, up_floor)
        return min(current, down_cap)

    def reconcile(self, key: Key) -> None:
        """Compute and apply the scale of HPA `key`; schedule the next sync."""
        hpa = self._cluster.objects[HPAS].get(key)
        if hpa is None:
            return
        self.enqueue_after(key, SYNC_SECONDS / self._speed)
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        resource = TARGETS.get(ref.get("kind", ""))
        target = (
            self._store.peek(resource, ref.get("name", ""), namespace=key[0]) if resource else None
        )
        status = dict(hpa.get("status") or {})
        if target is None:
            self._conditions(
                status,
                able=(
                    "False",
                    "FailedGetScale",
                    f"the HPA controller was unable to get the target's "
                    f"current scale: {ref.get('kind')} {ref.get('name')} "
                    "not found",
                ),
            )
            self._write(key, status)
            return
        self._scale(key, hpa, target, resource, status)

    def _scale(
        self,
        key: Key,
        hpa: dict[str, Any],
        target: dict[str, Any],
        resource: str,
        status: dict[str, Any],
    ) -> None:
        spec = hpa.get("spec") or {}
        current = int((target.get("spec") or {}).get("replicas", 1))
        low, high = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 1)
        pods = self._pods(target)
        usage = self._usage()
        proposals, currents = [], []
        try:
            for metric in spec.get("metrics") or [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                }
            ]:
                if metric.get("type") != "Resource":
                    raise ValueError(f"metric type {metric.get('type')} is not supported")
                proposal, doc = metric_proposal(metric, pods, usage, current)
                proposals.append(proposal)
                currents.append(doc)
        except ValueError as exc:
            self._conditions(status, active=("False", "FailedGetResourceMetric", str(exc)))
            if current < low or current > high:
                self._apply(
                    key,
                    hpa,
                    target,
                    resource,
                    current,
                    min(max(current, low), high),
                    "Current number of replicas out of range",
                )
            status.update(currentReplicas=current, desiredReplicas=min(max(current, low), high))
            self._write(key, status)
            return
        behaviour = spec.get("behavior") or {}
        wanted = self._stabilize(key, behaviour, current, max(proposals))
        limited = rate_limit(behaviour, current, wanted)
        desired = min(max(limited, low), high)
        limit = (
            (
                "True",
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
            if limited < low
            else (
                (
                    "True",
                    "TooManyReplicas",
                    "the desired replica count is more than the maximum replica count",
                )
                if limited > high
                else (
                    "False",
                    "DesiredWithinRange",
                    "the desired count is within the acceptable range",
                )
            )
        )
        if desired != current:
            what = currents[proposals.index(max(proposals))]["resource"]["name"]
            direction = "above" if desired > current else "below"
            self._apply(
                key,
                hpa,
                target,
                resource,
                current,
                desired,
                f"{what} resource utilization (percentage of request) {direction} target",
            )
            status["lastScaleTime"] = now_iso()
        self._conditions(
            status,
            able=("True", "ReadyForNewScale", "recommended size matches current size")
            if desired == current
            else (
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
            ),
            active=(
                "True",
                "ValidMetricFound",
                "the HPA was able to successfully calculate a replica count from the metrics",
            ),
            limited=limit,
        )
        status.update(
            currentReplicas=current,
            desiredReplicas=desired,
            currentMetrics=currents,
            observedGeneration=(hpa.get("metadata") or {}).get("generation", 1),
        )
        self._write(key, status)

    def _apply(
        self,
        key: Key,
        hpa: dict[str, Any],
        target: dict[str, Any],
        resource: str,
        current: int,
        desired: int,
        reason: str,
    ) -> None:
        name = (target.get("metadata") or {}).get("name", "")
        self._store.patch(resource, name, {"spec": {"replicas": desired}}, namespace=key[0])
        self._events.record(
            hpa,
            "HorizontalPodAutoscaler",
            "Normal",
            "SuccessfulRescale",
            f"New size: {desired}; reason: {reason}",
            "horizontal-pod-autoscaler",
        )
        del current

    @staticmethod
    def _conditions(
        status: dict[str, Any],
        *,
        able: tuple[str, str, str] | None = None,
        active: tuple[str, str, str] | None = None,
        limited: tuple[str, str, str] | None = None,
    ) -> None:
        conditions = [dict(c) for c in status.get("conditions") or []]
        default_able = (
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )
        for ctype, value in (
            ("AbleToScale", able or default_able),
            ("ScalingActive", active),
            ("ScalingLimited", limited),
        ):
            if value is not None:
                set_condition(conditions, ctype, value[0], value[1], value[2])
        status["conditions"] = conditions

    def _write(self, key: Key, status: dict[str, Any]) -> None:
        current = self._store.peek(HPAS, key[1], namespace=key[0])
        if current is None or current.get("status") == status:
            return
        self._store.patch(HPAS, key[1], {"status": status}, namespace=key[0], subresource="status")
