"""The ``/openapi/v3`` index and one OpenAPI 3 document per group version.

kubectl 1.32 reads these for ``kubectl explain`` (the schemas, found by their
``x-kubernetes-group-version-kind``) and, on ``apply`` / ``create -f``, to learn whether the
server validates fields itself: a ``fieldValidation`` parameter on a kind's ``patch``
operation makes it send ``fieldValidation=Strict`` and leave validation to the server,
which answers with the same schemas (``kubesim.openapi.validate``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import orjson

from kubesim.discovery import GIT_VERSION
from kubesim.openapi.schemas import REF, Builder
from kubesim.resources import ResourceRegistry, ResourceType

#: Returns the CustomResourceDefinition object behind a custom resource type.
CrdLookup = Callable[[ResourceType], "dict | None"]
_PARAMS = [
    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for name in ("dryRun", "fieldManager", "fieldValidation")
]


def gv_path(group: str, version: str) -> str:
    """Return a group version's path below ``/openapi/v3`` (``api/v1``, ``apis/apps/v1``)."""
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _operation(action: str, rt: ResourceType, version: str, schema: str) -> dict:
    body = {"content": {"application/json": {"schema": {"$ref": REF + schema}}}}
    out = {
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": version, "kind": rt.kind},
        "parameters": _PARAMS,
        "responses": {
            "200": {"description": "OK", "content": body["content"]},
            "401": {"description": "Unauthorized"},
        },
    }
    if action != "patch":
        out["requestBody"] = body
    return out


def _paths(rt: ResourceType, version: str, schema: str) -> dict[str, dict]:
    base = "/" + gv_path(rt.group, version)
    prefix = f"{base}/namespaces/{{namespace}}" if rt.namespaced else base
    return {
        f"{prefix}/{rt.plural}": {"post": _operation("post", rt, version, schema)},
        f"{prefix}/{rt.plural}/{{name}}": {
            "get": _operation("get", rt, version, schema),
            "put": _operation("put", rt, version, schema),
            "patch": _operation("patch", rt, version, schema),
        },
    }


def components(
    reg: ResourceRegistry, group: str, version: str, crd_for: CrdLookup
) -> tuple[dict[str, dict], dict[str, str]]:
    """Return (component schemas, {kind: component name}) for one group version."""
    builder = Builder(group, version)
    names = {}
    for rt in sorted(reg.in_group_version(group, version), key=lambda r: r.kind):
        names[rt.kind] = builder.custom(rt, crd_for(rt)) if rt.crd else builder.kind(rt)
    return builder.components, names


def document(reg: ResourceRegistry, group: str, version: str, crd_for: CrdLookup) -> dict | None:
    """Return the OpenAPI 3 document of a group version, or None if nothing is served there."""
    types = reg.in_group_version(group, version)
    if not types:
        return None
    schemas, names = components(reg, group, version, crd_for)
    paths: dict[str, dict] = {}
    for rt in sorted(types, key=lambda r: r.plural):
        paths.update(_paths(rt, version, names[rt.kind]))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def document_hash(doc: dict) -> str:
    """Return the hash the index carries for a document (it changes when the document does)."""
    return hashlib.sha512(orjson.dumps(doc)).hexdigest()[:32].upper()
