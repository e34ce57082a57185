"""Serving a resource at a version other than its storage version (CRDs with several).

Objects are stored at the storage version. A read at another version is converted by the
resource's converter (the part a conversion webhook plays on a cluster) or, without one,
only relabelled; a write at another version is converted to the storage version first.
"""

from __future__ import annotations

from kubesim.errors import bad_request
from kubesim.patch import APPLY
from kubesim.resources import ResourceRegistry, ResourceType
from kubesim.store import Store


def render(reg: ResourceRegistry, obj: dict, rt: ResourceType, version: str) -> dict:
    """Return ``obj`` as served at ``version``."""
    if version != rt.version:
        return reg.convert(rt, obj, version)
    return obj


def converted(reg: ResourceRegistry, rt: ResourceType, version: str) -> bool:
    """Return whether writes at ``version`` need converting to the storage version."""
    return version != rt.version and rt.key in reg.converters


def to_storage(reg: ResourceRegistry, body: object, rt: ResourceType, version: str) -> object:
    """Return a request body sent at ``version`` as the storage version holds it."""
    if not isinstance(body, dict) or not converted(reg, rt, version):
        return body
    body = {**body, "apiVersion": body.get("apiVersion") or f"{rt.group}/{version}"}
    return reg.convert(rt, body, rt.version)


def patch_converted(
    store: Store,
    rt: ResourceType,
    name: str,
    namespace: str | None,
    patched: object,
    ctype: str,
    version: str,
    subresource: str | None,
) -> dict:
    """Store ``patched`` (the object as served at ``version`` with the patch applied)
    converted back to the storage version; return the stored object."""
    if not isinstance(patched, dict):
        raise bad_request("the patch did not produce an object")
    stored = to_storage(store.resources, patched, rt, version)
    assert isinstance(stored, dict)
    stored.setdefault("metadata", {})["name"] = name
    if ctype.startswith(APPLY):
        stored["metadata"].pop("resourceVersion", None)
    return store.update(rt.key, stored, namespace=namespace, subresource=subresource)


__all__ = ["converted", "patch_converted", "render", "to_storage"]
