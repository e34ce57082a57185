"""OpenAPI v3 component schemas of the kinds kubesim serves.

Built-in kinds are generated from the protobuf schema table (``kubesim.protobuf.schema``)
plus the fields and descriptions of ``kubesim.openapi.fields``; each custom resource gets
its CRD's ``openAPIV3Schema``. Schemas are named as the API server names them
(``io.k8s.api.core.v1.PodSpec``) and referenced the way its documents do (``allOf`` with one
``$ref``), so ``kubectl explain`` walks them as it walks a cluster's.
"""

from __future__ import annotations

from typing import Any

from kubesim.openapi.fields import DESCRIPTIONS, EXTRA, OPEN
from kubesim.protobuf.schema import CORE_MESSAGES, META_MESSAGES, SCHEMAS
from kubesim.protobuf.wire import Field
from kubesim.resources import ResourceType

REF = "#/components/schemas/"
META_PKG = "io.k8s.apimachinery.pkg.apis.meta.v1"
PRESERVE = "x-kubernetes-preserve-unknown-fields"
GVK = "x-kubernetes-group-version-kind"
_SPECIAL_PKGS = {
    "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
}
# Names the protobuf table shortens; the API's own names are longer.
_RENAMES = {"RollingUpdate": "RollingUpdateDeployment"}
_PRIMITIVES = {
    "s": {"type": "string"},
    "b": {"type": "boolean"},
    "i": {"type": "integer", "format": "int64"},
    "y": {"type": "string", "format": "byte"},
    "o": {"type": "object", PRESERVE: True},
    "r": {"type": "object", PRESERVE: True},
}
_SCALARS = {
    "t": (f"{META_PKG}.Time", {"type": "string", "format": "date-time"}),
    "q": (
        "io.k8s.apimachinery.pkg.api.resource.Quantity",
        {"oneOf": [{"type": "string"}, {"type": "number"}]},
    ),
    "n": (
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
    ),
}
_MAPS = {"m": {"type": "string"}, "mb": {"type": "string", "format": "byte"}, "mq": "q"}


def package(group: str, version: str) -> str:
    """Return the schema-name prefix of a group version (``io.k8s.api.apps.v1``)."""
    if not group:
        return f"io.k8s.api.core.{version}"
    if group in _SPECIAL_PKGS:
        return f"{_SPECIAL_PKGS[group]}.{version}"
    if group.endswith(".k8s.io"):
        return f"io.k8s.api.{group.split('.')[0]}.{version}"
    return ".".join(reversed(group.split("."))) + f".{version}"


def _extra_fields(message: str) -> list[Field]:
    spec = EXTRA.get(message, "")
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, code = item.split()
        out.append(Field(name, code.strip("*!"), code.startswith("*")))
    return out


def message_fields(message: str) -> list[Field]:
    """Return every field of ``message``: the protobuf table's, then the OpenAPI extras."""
    return list(SCHEMAS.get(message, {}).values()) + _extra_fields(message)


class Builder:
    """Collects the component schemas one document needs, named for its group version."""

    def __init__(self, group: str, version: str) -> None:
        self.group, self.version = group, version
        self.components: dict[str, dict] = {}
        self._names: dict[str, str] = {}

    # ----------------------------------------------------------------- naming
    def name_of(self, message: str) -> str:
        """Return the component name of ``message`` (built on first use)."""
        if message in self._names:
            return self._names[message]
        if message in META_MESSAGES:
            prefix = META_PKG
        elif message in CORE_MESSAGES:
            prefix = package("", "v1")
        else:
            prefix = package(self.group, self.version)
        name = f"{prefix}.{_RENAMES.get(message, message)}"
        self._names[message] = name
        self.components[name] = {}  # reserve first: messages may refer to themselves
        self.components[name] = self._message(message)
        return name

    def _ref(self, name: str, description: str = "") -> dict:
        out: dict[str, Any] = {"allOf": [{"$ref": REF + name}]}
        if description:
            out["description"] = description
        return out

    # ----------------------------------------------------------------- fields
    def _scalar(self, code: str) -> dict:
        if code in _PRIMITIVES:
            return dict(_PRIMITIVES[code])
        if code in _SCALARS:
            name, schema = _SCALARS[code]
            self.components.setdefault(name, schema)
            return self._ref(name)
        if code in _MAPS:
            value = _MAPS[code]
            inner = self._scalar(value) if isinstance(value, str) else dict(value)
            return {"type": "object", "additionalProperties": inner}
        return self._ref(self.name_of(code))

    def field_schema(self, message: str, field: Field) -> dict:
        """Return the schema of one field of ``message``, with its description if known."""
        schema = self._scalar(field.type)
        if field.repeated:
            schema = {"type": "array", "items": schema}
        description = DESCRIPTIONS.get(f"{message}.{field.name}")
        if description:
            schema["description"] = description
        return schema

    def _message(self, message: str) -> dict:
        properties: dict[str, dict] = {}
        for field in message_fields(message):
            if field.inline:
                properties.update(self._message(field.type)["properties"])
            else:
                properties[field.name] = self.field_schema(message, field)
        out: dict[str, Any] = {"type": "object", "properties": properties}
        if message in DESCRIPTIONS:
            out["description"] = DESCRIPTIONS[message]
        if message in OPEN:
            out[PRESERVE] = True
        return out

    # ----------------------------------------------------------------- kinds
    def kind(self, rt: ResourceType) -> str:
        """Add the schema of a built-in kind (its spec fields, metadata, status); return
        its component name."""
        name = f"{package(self.group, self.version)}.{rt.kind}"
        top = {
            "apiVersion": {"type": "string", "description": DESCRIPTIONS["apiVersion"]},
            "kind": {"type": "string", "description": DESCRIPTIONS["kind"]},
            "metadata": self._ref(self.name_of("ObjectMeta"), DESCRIPTIONS["metadata"]),
        }
        schema: dict[str, Any] = {"type": "object", "properties": top}
        if rt.kind in SCHEMAS:
            for field in message_fields(rt.kind):
                if field.name != "metadata":
                    top[field.name] = self.field_schema(rt.kind, field)
                    if field.name == "spec":
                        top["spec"].setdefault("description", DESCRIPTIONS["spec"])
        else:
            schema[PRESERVE] = True  # kubesim stores these kinds without a field list
        if rt.status_subresource:
            top["status"] = {
                "type": "object",
                PRESERVE: True,
                "description": DESCRIPTIONS["status"],
            }
        if rt.kind in DESCRIPTIONS:
            schema["description"] = DESCRIPTIONS[rt.kind]
        schema[GVK] = [{"group": rt.group, "kind": rt.kind, "version": self.version}]
        self.components[name] = schema
        return name

    def custom(self, rt: ResourceType, crd: dict | None) -> str:
        """Add the schema a CRD declares for this version; return its component name."""
        name = f"{package(self.group, self.version)}.{rt.kind}"
        declared: dict = {}
        for v in ((crd or {}).get("spec") or {}).get("versions") or []:
            if v.get("name") == self.version:
                declared = ((v.get("schema") or {}).get("openAPIV3Schema")) or {}
        schema = dict(declared) or {"type": "object", PRESERVE: True}
        properties = dict(schema.get("properties") or {})
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties["metadata"] = self._ref(self.name_of("ObjectMeta"), DESCRIPTIONS["metadata"])
        schema["properties"] = properties
        schema.setdefault("type", "object")
        schema[GVK] = [{"group": rt.group, "kind": rt.kind, "version": self.version}]
        self.components[name] = schema
        return name
