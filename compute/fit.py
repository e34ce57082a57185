"""Which nodes can hold an instance type, and how many such pods fit now.

Pure functions over the portal's node rows, so the answer comes from the
database (no cluster call) when a page or a submission asks.
"""

from decimal import Decimal

from compute import quantity

RESOURCES = ("cpu", "memory", "nvidia.com/gpu")


def demand(requests: dict, limits: dict) -> dict[str, Decimal]:
    """What one pod of the instance type takes from a node (GPUs are requested as their limit)."""
    wanted = {key: quantity.parse(value) for key, value in requests.items() if key in RESOURCES}
    gpus = limits.get("nvidia.com/gpu")
    if gpus:
        wanted["nvidia.com/gpu"] = quantity.parse(gpus)
    return {key: value for key, value in wanted.items() if value > 0}


def selector_matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def blocking_taints(taints: list[dict]) -> list[dict]:
    return [t for t in taints if t.get("effect") in {"NoSchedule", "NoExecute"}]


def node_verdict(
    node, selector: dict, wanted: dict[str, Decimal], narrowing: dict
) -> tuple[int, int, str]:
    """Returns (pods that fit now, pods that fit on the empty node, reason when it cannot hold one)."""
    labels = node.labels
    if not selector_matches(selector, labels):
        return 0, 0, "node selector does not match"
    if not selector_matches(narrowing, labels):
        return 0, 0, "outside the extension's workload node selector"
    if not node.ready or node.unschedulable:
        return 0, 0, "node not ready or cordoned"
    if blocking_taints(node.taints):
        keys = ", ".join(t.get("key", "") for t in blocking_taints(node.taints))
        return 0, 0, f"tainted ({keys})"
    now, empty = None, None
    for resource, amount in wanted.items():
        alloc = quantity.parse(node.allocatable.get(resource, 0))
        if alloc < amount:
            return (
                0,
                0,
                f"allocatable {resource} {quantity.format_resource(resource, alloc)} < {quantity.format_resource(resource, amount)}",
            )
        free = alloc - quantity.parse(node.requested.get(resource, 0))
        fit_now = int(max(free, Decimal(0)) // amount)
        fit_empty = int(alloc // amount)
        now = fit_now if now is None else min(now, fit_now)
        empty = fit_empty if empty is None else min(empty, fit_empty)
    pods_alloc = int(quantity.parse(node.allocatable.get("pods", 110)))
    pods_free = max(pods_alloc - node.pod_count, 0)
    now = pods_free if now is None else min(now, pods_free)
    empty = pods_alloc if empty is None else min(empty, pods_alloc)
    return now, empty, ""


def evaluate(instance_type, nodes, narrowing: dict | None = None) -> dict:
    """Returns {"nodes": [names that can hold one], "free": pods that fit now, "capacity": on empty nodes,
    "reasons": {node: why not}} for ``instance_type`` over ``nodes``."""
    wanted = demand(instance_type.requests, instance_type.limits)
    fitting, reasons = [], {}
    free = capacity = 0
    for node in nodes:
        now, empty, reason = node_verdict(
            node, instance_type.node_selector, wanted, narrowing or {}
        )
        if empty:
            fitting.append(node.name)
            free += now
            capacity += empty
        else:
            reasons[node.name] = reason
    return {"nodes": fitting, "free": free, "capacity": capacity, "reasons": reasons}
