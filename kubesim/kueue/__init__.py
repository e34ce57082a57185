"""Kueue in kubesim: its CRDs (``kueue.x-k8s.io`` v1beta2 and v1beta1), a simulated
controller manager (`controller`) and the visibility API (`visibility`).

``install(store)`` serves the CRDs and registers the visibility API; ``start(store,
recorder)`` runs the controller (called by `kubesim.sim.start_controllers`).
"""

from __future__ import annotations

from typing import Any

from . import crds, visibility
from .controller import KueueController

APISERVICES = "apiservices.apiregistration.k8s.io"


def install(store: Any) -> None:
    """Create Kueue's CRDs and the visibility API's APIServices in ``store``."""
    crds.install(store)
    for rt in visibility.resource_types():
        store.resources.add(rt)
    for service in visibility.api_services():
        if store.peek(APISERVICES, service["metadata"]["name"]) is None:
            store.create(APISERVICES, service)


def installed(store: Any) -> bool:
    """Return whether Kueue's Workload CRD is served by ``store``."""
    return f"workloads.{crds.GROUP}" in store.resources


def start(store: Any, recorder: Any) -> KueueController:
    """Return a running Kueue controller for ``store`` (on the running loop)."""
    return KueueController(store, recorder)


__all__ = ["KueueController", "install", "installed", "start"]
