"""The endpoints controller: each Service with a selector gets an Endpoints object and an
EndpointSlice listing its pods' addresses, ready ones under ``addresses`` and the others
under ``notReadyAddresses`` (all ready with ``publishNotReadyAddresses``)."""

from __future__ import annotations

import logging
from typing import Any

from kubesim.runtime.probes import port_number

from .informer import Cluster, Controller, Key
from .util import pod_is_ready, pod_is_terminal

log = logging.getLogger(__name__)

SLICE_LABEL = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


def _selects(selector: dict[str, str], pod: dict[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def _ports(svc: dict[str, Any], pod: dict[str, Any]) -> tuple[tuple[str, int, str], ...]:
    """Return (name, target port, protocol) of each service port resolved against `pod`."""
    containers = (pod.get("spec") or {}).get("containers") or []
    out = []
    for port in (svc.get("spec") or {}).get("ports") or ():
        target = port.get("targetPort", port.get("port"))
        number = next((n for c in containers if (n := port_number(c, target)) is not None), None)
        if number is not None:
            out.append((port.get("name") or "", number, port.get("protocol") or "TCP"))
    return tuple(out)


def _address(pod: dict[str, Any]) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    out = {
        "ip": (pod.get("status") or {}).get("podIP"),
        "nodeName": (pod.get("spec") or {}).get("nodeName"),
        "targetRef": {
            "kind": "Pod",
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
        },
    }
    hostname = (pod.get("spec") or {}).get("hostname")
    if hostname:
        out["hostname"] = hostname
    return out


def subsets(svc: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the Endpoints subsets of `svc` over the given pods (grouped by port set)."""
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", "")):
        ports = _ports(svc, pod)
        group = groups.setdefault(ports, {"addresses": [], "notReadyAddresses": []})
        ready = publish or pod_is_ready(pod)
        group["addresses" if ready else "notReadyAddresses"].append(_address(pod))
    out = []
    for ports, group in groups.items():
        subset: dict[str, Any] = {k: v for k, v in group.items() if v}
        subset["ports"] = [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]
        out.append(subset)
    return out


def _slice(svc: dict[str, Any], subs: list[dict[str, Any]]) -> dict[str, Any]:
    meta = svc.get("metadata") or {}
    endpoints, ports = [], []
    for subset in subs:
        ports = ports or subset.get("ports", [])
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in subset.get(key) or ():
                endpoints.append(
                    {
                        "addresses": [address["ip"]],
                        "conditions": {"ready": ready, "serving": ready, "terminating": False},
                        "nodeName": address.get("nodeName"),
                        "targetRef": address["targetRef"],
                    }
                )
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{meta.get('name')}-kubesim",
            "namespace": meta.get("namespace"),
            "labels": {
                SLICE_LABEL: meta.get("name"),
                MANAGED_BY: "endpointslice-controller.k8s.io",
            },
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    }


class EndpointsController(Controller):
    """Keeps Endpoints and EndpointSlices in step with services and their pods."""

    name = "endpoints"

    def __init__(self, store: Any, cluster: Cluster) -> None:
        super().__init__()
        self._store = store
        self._cluster = cluster
        cluster.subscribe("services", self._on_service)
        cluster.subscribe("pods", self._on_pod)

    def _on_service(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None):
        meta = obj.get("metadata") or {}
        self.enqueue((meta.get("namespace") or "", meta.get("name") or ""))

    def _on_pod(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        for key, svc in list(self._cluster.objects["services"].items()):
            selector = (svc.get("spec") or {}).get("selector")
            if (
                key[0] == namespace
                and selector
                and (_selects(selector, obj) or (old is not None and _selects(selector, old)))
            ):
                self.enqueue(key)

    def reconcile(self, key: Key) -> None:
        """Write the Endpoints and EndpointSlice of service `key` (or remove them)."""
        namespace, name = key
        svc = self._cluster.objects["services"].get(key)
        selector = ((svc or {}).get("spec") or {}).get("selector")
        if svc is None or not selector:
            for resource, obj_name in (
                ("endpoints", name),
                ("endpointslices.discovery.k8s.io", f"{name}-kubesim"),
            ):
                if self._store.peek(resource, obj_name, namespace=namespace) is not None:
                    self._store.delete(resource, obj_name, namespace=namespace)
            return
        pods = [
            p
            for p in self._cluster.pods.values()
            if (p.get("metadata") or {}).get("namespace") == namespace
            and _selects(selector, p)
            and (p.get("status") or {}).get("podIP")
            and not pod_is_terminal(p)
            and not (p.get("metadata") or {}).get("deletionTimestamp")
        ]
        subs = subsets(svc, pods)
        labels = dict((svc.get("metadata") or {}).get("labels") or {})
        endpoints = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "subsets": subs,
        }
        self._write("endpoints", endpoints, "subsets")
        self._write("endpointslices.discovery.k8s.io", _slice(svc, subs), "endpoints", "ports")

    def _write(self, resource: str, obj: dict[str, Any], *fields: str) -> None:
        meta = obj["metadata"]
        current = self._store.peek(resource, meta["name"], namespace=meta["namespace"])
        if current is None:
            self._store.create(resource, obj, namespace=meta["namespace"])
        elif any(current.get(f) != obj.get(f) for f in fields):
            self._store.patch(
                resource, meta["name"], {f: obj.get(f) for f in fields}, namespace=meta["namespace"]
            )
