"""Discovery documents: /version, /api, /apis and per group-version resource lists."""

from __future__ import annotations

from kubesim.resources import ResourceRegistry, ResourceType

GIT_VERSION = "v1.32.0-kubesim"

# Verbs Kubernetes advertises for subresources.
_SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "log": ["get"],
    "scale": ["get", "patch", "update"],
    "finalize": ["update"],
    "proxy": ["create", "delete", "get", "patch", "update"],
    "exec": ["create", "get"],
    "attach": ["create", "get"],
    "portforward": ["create", "get"],
    "token": ["create"],
}
# (group, version, kind) of subresources whose kind is not the parent's.
_SUB_KINDS = {
    "log": ("", "", "Pod"),
    "exec": ("", "", "PodExecOptions"),
    "attach": ("", "", "PodAttachOptions"),
    "portforward": ("", "", "PodPortForwardOptions"),
    "token": ("authentication.k8s.io", "v1", "TokenRequest"),
    "scale": ("autoscaling", "v1", "Scale"),
    "pendingworkloads": ("", "", "PendingWorkloadsSummary"),
}


def version_info() -> dict:
    """Return the /version document."""
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict:
    """Return the /api document (core group versions)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_doc(group: str, versions: list[str]) -> dict:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(reg: ResourceRegistry) -> dict:
    """Return the /apis document (every non-core group)."""
    groups = [_group_doc(g, vs) for g, vs in reg.groups().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(reg: ResourceRegistry, group: str) -> dict | None:
    """Return the /apis/<group> document, or None if the group is not served."""
    versions = reg.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def _entry(rt: ResourceType) -> dict:
    out = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        out["shortNames"] = list(rt.short_names)
    if rt.categories:
        out["categories"] = list(rt.categories)
    return out


def resource_list(reg: ResourceRegistry, group: str, version: str) -> dict | None:
    """Return the APIResourceList for a group version, or None if nothing is served there."""
    types = reg.in_group_version(group, version)
    if not types:
        return None
    resources = []
    for rt in sorted(types, key=lambda r: r.plural):
        resources.append(_entry(rt))
        for sub in rt.subresources:
            group_, version_, kind = _SUB_KINDS.get(sub, ("", "", rt.kind))
            entry = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind,
                "verbs": _SUB_VERBS.get(sub, ["get"]),
            }
            if group_:
                entry.update(group=group_, version=version_)
            resources.append(entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": version if not group else f"{group}/{version}",
        "resources": resources,
    }
