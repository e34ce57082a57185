"""CustomResourceDefinitions: validating them and serving their resources."""

from __future__ import annotations

from collections.abc import Callable

from kubesim.errors import invalid
from kubesim.objects import now_rfc3339
from kubesim.resources import ResourceRegistry, ResourceType


def _cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict:
    return {"reason": reason, "field": field, "message": message}


def admit_crd(resources: ResourceRegistry, crd: dict) -> None:
    """Validate a CRD body and fill in its status (Established, acceptedNames) in place.

    Raises 422 Invalid when the name is not ``<plural>.<group>``, the scope is unknown, or no
    version is both served and storage.
    """
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = spec.get("group", ""), names.get("plural", "")
    name = crd["metadata"].get("name", "")
    causes = []
    if not group:
        causes.append(_cause("spec.group", "Required value", "FieldValueRequired"))
    if not plural:
        causes.append(_cause("spec.names.plural", "Required value", "FieldValueRequired"))
    if not names.get("kind"):
        causes.append(_cause("spec.names.kind", "Required value", "FieldValueRequired"))
    if group and plural and name != f"{plural}.{group}":
        causes.append(
            _cause(
                "metadata.name",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            _cause(
                "spec.scope",
                f'Unsupported value: "{spec.get("scope")}": '
                'supported values: "Cluster", "Namespaced"',
                "FieldValueNotSupported",
            )
        )
    versions = spec.get("versions") or []
    if not any(v.get("storage") for v in versions):
        causes.append(
            _cause(
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    if causes:
        raise invalid("CustomResourceDefinition", name, "apiextensions.k8s.io", causes)
    existing = resources.get(f"{plural}.{group}")
    if existing is not None and not existing.crd:
        raise invalid(
            "CustomResourceDefinition",
            name,
            "apiextensions.k8s.io",
            [
                _cause(
                    "metadata.name", f'Invalid value: "{name}": collides with a built-in resource'
                )
            ],
        )
    accepted = {
        "plural": plural,
        "singular": names.get("singular") or names["kind"].lower(),
        "kind": names["kind"],
        "listKind": names.get("listKind") or f"{names['kind']}List",
    }
    for opt in ("shortNames", "categories"):
        if names.get(opt):
            accepted[opt] = list(names[opt])
    stamp = now_rfc3339()
    crd["status"] = {
        "acceptedNames": accepted,
        "storedVersions": [v["name"] for v in versions if v.get("storage")],
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": stamp,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": stamp,
            },
        ],
    }


def resource_type_for(crd: dict) -> ResourceType:
    """Return the ``ResourceType`` a (validated) CRD defines."""
    spec = crd["spec"]
    names = crd["status"]["acceptedNames"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    storage = next(
        (v for v in served if v.get("storage")), served[0] if served else spec["versions"][0]
    )
    ordered = [storage] + [v for v in served if v is not storage]
    status = bool((storage.get("subresources") or {}).get("status") is not None)
    subs = tuple(s for s in ("status", "scale") if s in (storage.get("subresources") or {}))
    return ResourceType(
        group=spec["group"],
        version=storage["name"],
        plural=names["plural"],
        singular=names["singular"],
        kind=names["kind"],
        namespaced=spec["scope"] == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        status_subresource=status,
        subresources=subs,
        name_rule="subdomain",
        categories=tuple(names.get("categories") or ()),
        crd=True,
        versions=tuple(v["name"] for v in ordered),
        columns=tuple(
            (c.get("name", ""), c.get("type", "string"), c.get("jsonPath", ""))
            for c in storage.get("additionalPrinterColumns") or ()
            if c.get("jsonPath") != ".metadata.creationTimestamp"
        ),
    )


def sync_crd(
    resources: ResourceRegistry,
    drop_objects: Callable[[str], None],
    old: dict | None,
    new: dict | None,
) -> None:
    """Register, update or remove the served resource after a CRD change.

    Deleting a CRD calls ``drop_objects(key)`` (which deletes all of its objects, emitting
    DELETED) before its endpoints go.
    """
    if new is None:
        if old is not None:
            spec = old["spec"]
            key = f"{spec['names']['plural']}.{spec['group']}"
            drop_objects(key)
            resources.remove(key)
        return
    resources.add(resource_type_for(new))
