"""Resource quantities and pod resource requests, as the scheduler accounts them.

Quantities are parsed into integers: CPU in millicores, everything else in base units
(bytes for memory, devices for extended resources), rounded up like Kubernetes does.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

CPU = "cpu"
MEMORY = "memory"
GPU = "nvidia.com/gpu"
PODS = "pods"

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]?)$")

Resources = dict[str, int]


def parse_quantity(value: Any, *, milli: bool = False) -> int:
    """Return the quantity `value` ("500m", "2Gi", 4, "1e3") as an int, rounded up.

    With `milli` the result is in thousandths (used for CPU).  Raises ValueError for
    anything that is not a Kubernetes quantity.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid quantity {value!r}")
    if isinstance(value, int | float):
        number = Decimal(str(value))
    else:
        match = _QUANTITY.match(str(value).strip())
        if not match:
            raise ValueError(f"invalid quantity {value!r}")
        digits, suffix = match.groups()
        try:
            number = Decimal(digits)
        except InvalidOperation as exc:
            raise ValueError(f"invalid quantity {value!r}") from exc
        if suffix in _BINARY:
            number *= _BINARY[suffix]
        elif suffix[:1] in ("e", "E"):
            number *= Decimal(10) ** int(suffix[1:])
        else:
            number *= _DECIMAL[suffix]
    if milli:
        number *= 1000
    return int(math.ceil(number))


def _container_requests(container: dict[str, Any]) -> Resources:
    """Return one container's requests; a limit without a request counts as the request,
    which mirrors the API server's defaulting of requests from limits."""
    res = container.get("resources") or {}
    merged = dict(res.get("limits") or {})
    merged.update(res.get("requests") or {})
    out: Resources = {}
    for name, qty in merged.items():
        try:
            out[name] = parse_quantity(qty, milli=(name == CPU))
        except ValueError:
            continue  # the API server would have rejected it; ignore rather than crash
    return out


def pod_requests(pod: dict[str, Any]) -> Resources:
    """Return the effective requests of a pod: max(sum of containers, max of each init
    container) per resource, plus spec.overhead; always includes `pods: 1`."""
    spec = pod.get("spec") or {}
    total: Resources = {}
    for container in spec.get("containers") or ():
        for name, qty in _container_requests(container).items():
            total[name] = total.get(name, 0) + qty
    for container in spec.get("initContainers") or ():
        for name, qty in _container_requests(container).items():
            if qty > total.get(name, 0):
                total[name] = qty
    for name, qty in (spec.get("overhead") or {}).items():
        try:
            total[name] = total.get(name, 0) + parse_quantity(qty, milli=(name == CPU))
        except ValueError:
            continue
    total[PODS] = 1
    return total


def parse_resource_list(raw: dict[str, Any] | None) -> Resources:
    """Return a node capacity/allocatable map parsed into ints (CPU in millicores)."""
    out: Resources = {}
    for name, qty in (raw or {}).items():
        try:
            out[name] = parse_quantity(qty, milli=(name == CPU))
        except ValueError:
            continue
    return out


def qos_class(pod: dict[str, Any]) -> str:
    """Return the pod QoS class (Guaranteed, Burstable or BestEffort) from its containers."""
    containers = list((pod.get("spec") or {}).get("containers") or ())
    containers += list((pod.get("spec") or {}).get("initContainers") or ())
    any_set = False
    guaranteed = True
    for container in containers:
        res = container.get("resources") or {}
        limits = res.get("limits") or {}
        requests = res.get("requests") or {}
        if limits or requests:
            any_set = True
        for name in (CPU, MEMORY):
            if name not in limits:
                guaranteed = False
            elif name in requests and str(requests[name]) != str(limits[name]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
