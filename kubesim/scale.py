"""The ``scale`` subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets,
StatefulSets and ReplicationControllers."""

from __future__ import annotations

from typing import Any

from kubesim.errors import bad_request
from kubesim.patch import apply_patch
from kubesim.resources import ResourceType
from kubesim.store import Store


def scale_of(obj: dict, rt: ResourceType) -> dict:
    """Return the Scale object describing ``obj``'s replicas."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector") or {}
    labels = selector.get("matchLabels", selector) if rt.group else selector
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {
            "replicas": int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        },
        "status": {
            "replicas": int(status.get("replicas") or 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def update_scale(
    store: Store, rt: ResourceType, name: str, ns: str | None, body: Any, patch_type: str | None
) -> dict:
    """Apply a Scale update (``patch_type`` None) or patch; return the new Scale."""
    current = store.get(rt.key, name, namespace=ns)
    scale = scale_of(current, rt)
    new = apply_patch(scale, body, patch_type) if patch_type else body
    replicas = ((new or {}).get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise bad_request("spec.replicas must be a non-negative integer")
    updated = store.patch(rt.key, name, {"spec": {"replicas": replicas}}, namespace=ns)
    return scale_of(updated, rt)
