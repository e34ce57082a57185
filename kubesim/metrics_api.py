"""``metrics.k8s.io/v1beta1``: PodMetrics and NodeMetrics, as metrics-server serves them.

Local containers report what their processes use (measured by the kubelet's local side);
simulated pods report the annotations ``kubesim.io/cpu-usage`` and
``kubesim.io/memory-usage`` (quantities, for each container), or a small idle figure.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kubesim.errors import ApiError, not_found
from kubesim.quantity import parse_quantity
from kubesim.selectors import labels_match, parse_label_selector
from kubesim.store import now_rfc3339

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
CPU_ANNOTATION = "kubesim.io/cpu-usage"
MEMORY_ANNOTATION = "kubesim.io/memory-usage"
IDLE = (0.001, 8 * 2**20)  # cores, bytes: what a simulated container reports by default
WINDOW = "10s"

Usage = dict[tuple[str, str], dict[str, tuple[float, int]]]


def _quantity(value: Any, default: float) -> float:
    try:
        return float(parse_quantity(str(value)))
    except (ValueError, ArithmeticError):
        return default


def simulated_usage(pod: dict[str, Any]) -> tuple[float, int]:
    """Return (cores, bytes) a simulated container of `pod` reports."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    cpu = _quantity(annotations.get(CPU_ANNOTATION, IDLE[0]), IDLE[0])
    memory = _quantity(annotations.get(MEMORY_ANNOTATION, IDLE[1]), IDLE[1])
    return cpu, int(memory)


def pod_usage(pod: dict[str, Any], measured: Usage) -> dict[str, tuple[float, int]] | None:
    """Return container -> (cores, bytes) for a running pod, else None."""
    if (pod.get("status") or {}).get("phase") != "Running":
        return None
    meta = pod.get("metadata") or {}
    local = measured.get((meta.get("namespace", ""), meta.get("name", "")), {})
    out = {}
    for container in (pod.get("spec") or {}).get("containers") or ():
        name = container.get("name", "")
        out[name] = local.get(name) or simulated_usage(pod)
    return out


def _usage_doc(cpu: float, memory: int) -> dict[str, str]:
    return {"cpu": f"{int(Decimal(cpu) * 10**9)}n", "memory": f"{max(memory, 0) // 1024}Ki"}


def _pod_doc(pod: dict[str, Any], usage: dict[str, tuple[float, int]]) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    return {
        "kind": "PodMetrics",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": meta.get("labels") or {},
            "creationTimestamp": now_rfc3339(),
        },
        "timestamp": now_rfc3339(),
        "window": WINDOW,
        "containers": [{"name": n, "usage": _usage_doc(*u)} for n, u in usage.items()],
    }


class MetricsApi:
    """Answers the metrics API from the store's pods and the kubelet's measurements."""

    def __init__(self, store: Any, measured: Callable[[], Usage]) -> None:
        self.store = store
        self.measured = measured

    def pods(self, namespace: str | None, name: str | None, selector: str | None) -> dict:
        """Return one PodMetrics, or a PodMetricsList (raises 404 for an unknown pod)."""
        measured = self.measured()
        if name is not None:
            pod = self.store.peek("pods", name, namespace=namespace)
            usage = pod_usage(pod, measured) if pod else None
            if usage is None:
                raise not_found("pods", name, GROUP)
            return _pod_doc(pod, usage)
        reqs = parse_label_selector(selector)
        items, _ = self.store.list("pods", namespace=namespace)
        docs = []
        for pod in items:
            usage = pod_usage(pod, measured)
            if usage is not None and labels_match(reqs, pod):
                docs.append(_pod_doc(pod, usage))
        return {"kind": "PodMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": docs}

    def nodes(self, name: str | None, selector: str | None) -> dict:
        """Return one NodeMetrics or a NodeMetricsList: the sums of the nodes' pods."""
        measured = self.measured()
        totals: dict[str, list[float]] = {}
        for pod in self.store.list("pods")[0]:
            usage = pod_usage(pod, measured)
            node = (pod.get("spec") or {}).get("nodeName")
            if usage and node:
                total = totals.setdefault(node, [0.0, 0.0])
                for cpu, memory in usage.values():
                    total[0] += cpu
                    total[1] += memory
        reqs = parse_label_selector(selector)
        docs = []
        for node in self.store.list("nodes")[0]:
            node_name = (node.get("metadata") or {}).get("name", "")
            if (name is not None and node_name != name) or not labels_match(reqs, node):
                continue
            cpu, memory = totals.get(node_name, [0.0, 0.0])
            docs.append(
                {
                    "kind": "NodeMetrics",
                    "apiVersion": API_VERSION,
                    "metadata": {
                        "name": node_name,
                        "labels": (node.get("metadata") or {}).get("labels") or {},
                        "creationTimestamp": now_rfc3339(),
                    },
                    "timestamp": now_rfc3339(),
                    "window": WINDOW,
                    "usage": _usage_doc(cpu, int(memory)),
                }
            )
        if name is not None:
            if not docs:
                raise not_found("nodes", name, GROUP)
            return docs[0]
        return {"kind": "NodeMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": docs}

    def answer(self, method: str, rest: list[str], selector: str | None) -> dict:
        """Return the document for the path after ``/apis/metrics.k8s.io/v1beta1``."""
        if method != "GET":
            raise ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] not in ("pods", "nodes") or len(rest) > 2:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else None
        if rest[0] == "nodes":
            return self.nodes(name, selector)
        return self.pods(namespace, name, selector)
