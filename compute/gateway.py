"""The compute app's cluster I/O: the permission check, the extension, namespaces,
quotas, instance types, nodes.

Every function takes the cluster (its row) first and returns plain data; requests go
through ``compute.kube`` (time-outs, errors a person can act on).
"""

import json
import time
from dataclasses import dataclass, field

from compute import quantity
from compute.instance_types import (
    DEFAULT_INSTANCE_TYPE,
    GROUP,
    PLURAL,
    VERSION,
    instance_type_crd,
    instance_type_object,
)
from compute.kube import calls
from compute.kube.client import client_for
from compute.kube.errors import ClusterError, ErrorKind
from compute.kube.labels import MANAGED_LABELS

SYSTEM_NAMESPACE = "kubeportal-system"
SERVICE_ACCOUNT = "kubeportal-workload"
WORKLOAD_ROLE = "kubeportal-workload"
QUOTA_NAME = "kubeportal-quota"
CRD_NAME = f"{PLURAL}.{GROUP}"
CRD_API = "apiextensions.k8s.io/v1"
RBAC_API = "rbac.authorization.k8s.io/v1"
INSTANCE_TYPE_API = f"{GROUP}/{VERSION}"

# (verb, group, resource, namespaced) the portal needs, checked at attach.
REQUIRED_PERMISSIONS = [
    ("list", "", "nodes"),
    ("watch", "", "nodes"),
    ("list", "", "namespaces"),
    ("create", "", "namespaces"),
    ("list", "", "pods"),
    ("watch", "", "pods"),
    ("get", "", "pods/log"),
    ("list", "", "events"),
    ("create", "", "resourcequotas"),
    ("update", "", "resourcequotas"),
    ("create", "", "services"),
    ("create", "", "secrets"),
    ("create", "", "persistentvolumeclaims"),
    ("create", "batch", "jobs"),
    ("delete", "batch", "jobs"),
    ("watch", "batch", "jobs"),
    ("create", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("create", "rbac.authorization.k8s.io", "clusterroles"),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
]


# ---- checks -------------------------------------------------------------------


@dataclass
class CheckResult:
    version: str
    node_count: int
    missing: list[str] = field(default_factory=list)


def check(cluster) -> CheckResult:
    """Returns the server version, node count and the permissions the credentials lack."""
    api = client_for(cluster)
    version = calls.request(api, "reading the server version", "GET", "/version")
    nodes = calls.list_objects(api, "v1", "Node", doing="listing nodes")
    missing = []
    for verb, group, resource in REQUIRED_PERMISSIONS:
        res, _, sub = resource.partition("/")
        attributes = {"verb": verb, "group": group, "resource": res}
        if sub:
            attributes["subresource"] = sub
        review = calls.request(
            api,
            "checking permissions",
            "POST",
            calls.rest_path("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attributes},
            },
        )
        if not (review.get("status") or {}).get("allowed"):
            missing.append(f"{verb} {resource}{'.' + group if group else ''}")
    return CheckResult(
        version=version.get("gitVersion", ""), node_count=len(nodes), missing=missing
    )


# ---- the extension -------------------------------------------------------------


def _wait_established(api, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current = calls.get(api, CRD_API, "CustomResourceDefinition", CRD_NAME)
        conditions = (current.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise ClusterError(
        ErrorKind.ERROR, "The InstanceType definition was not established within 15 seconds."
    )


def _workload_rbac() -> list[dict]:
    role = {
        "apiVersion": RBAC_API,
        "kind": "ClusterRole",
        "metadata": {"name": WORKLOAD_ROLE, "labels": MANAGED_LABELS},
        "rules": [
            {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "list", "watch"]},
            {
                "apiGroups": [""],
                "resources": ["pods", "services", "endpoints"],
                "verbs": ["get", "list", "watch"],
            },
        ],
    }
    binding = {
        "apiVersion": RBAC_API,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": WORKLOAD_ROLE, "labels": MANAGED_LABELS},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": WORKLOAD_ROLE,
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": SYSTEM_NAMESPACE}
        ],
    }
    return [role, binding]


def _system_object(kind: str, name: str, **content) -> dict:
    metadata = {"name": name, "namespace": SYSTEM_NAMESPACE, "labels": MANAGED_LABELS}
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata, **content}


def extension_steps(settings_: dict) -> list[tuple[str, callable]]:
    """Returns the install steps as (title, fn(cluster)) pairs; each is idempotent."""

    def crd(cluster):
        api = client_for(cluster)
        calls.create(
            api, instance_type_crd(), replace=True, doing="installing the InstanceType definition"
        )
        _wait_established(api)

    def default_type(cluster):
        body = instance_type_object(
            DEFAULT_INSTANCE_TYPE["name"],
            {},
            DEFAULT_INSTANCE_TYPE["resources"]["requests"],
            DEFAULT_INSTANCE_TYPE["resources"]["limits"],
        )
        # An existing one (maybe edited by IT ops) is kept.
        calls.create(client_for(cluster), body, doing="creating defaultinstancetype")

    def namespace(cluster):
        ensure_namespace(cluster, SYSTEM_NAMESPACE, {})

    def service_account(cluster):
        calls.create(
            client_for(cluster),
            _system_object("ServiceAccount", SERVICE_ACCOUNT),
            doing="creating the workload service account",
        )

    def rbac(cluster):
        calls.apply(
            client_for(cluster), _workload_rbac(), replace=True, doing="creating the workload role"
        )

    def config(cluster):
        body = _system_object(
            "ConfigMap",
            "kubeportal-extension",
            data={"settings.json": json.dumps(settings_, sort_keys=True)},
        )
        calls.create(client_for(cluster), body, replace=True, doing="saving the extension settings")

    return [
        ("InstanceType custom resource definition", crd),
        ("defaultinstancetype", default_type),
        (f"Namespace {SYSTEM_NAMESPACE}", namespace),
        ("Workload service account", service_account),
        ("RBAC for workloads", rbac),
        ("Extension settings", config),
    ]


def uninstall_steps() -> list[tuple[str, callable]]:
    """Returns the uninstall steps as (title, fn(cluster)) pairs; each is idempotent."""

    def crd(cluster):
        calls.delete(
            client_for(cluster),
            CRD_API,
            "CustomResourceDefinition",
            CRD_NAME,
            doing="removing the InstanceType definition",
        )

    def rbac(cluster):
        api = client_for(cluster)
        for kind in ("ClusterRoleBinding", "ClusterRole"):
            calls.delete(api, RBAC_API, kind, WORKLOAD_ROLE, doing="removing the workload role")

    def namespace(cluster):
        calls.delete(
            client_for(cluster),
            "v1",
            "Namespace",
            SYSTEM_NAMESPACE,
            doing=f"removing namespace {SYSTEM_NAMESPACE}",
        )

    return [
        ("RBAC for workloads", rbac),
        ("InstanceType definition and objects", crd),
        (f"Namespace {SYSTEM_NAMESPACE}", namespace),
    ]


# ---- namespaces and quotas ------------------------------------------------------


def list_namespaces(cluster) -> dict[str, str]:
    """The cluster's namespaces: {name: uid}."""
    items = calls.list_objects(client_for(cluster), "v1", "Namespace", doing="listing namespaces")
    return {item["metadata"]["name"]: item["metadata"].get("uid", "") for item in items}


def namespace_exists(cluster, name: str) -> bool:
    try:
        calls.get(client_for(cluster), "v1", "Namespace", name)
        return True
    except ClusterError as err:
        if err.kind == ErrorKind.NOT_FOUND:
            return False
        raise


def ensure_namespace(cluster, name: str, labels: dict) -> bool:
    """Creates the namespace with ``labels`` unless it exists; returns True when it created it."""
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**MANAGED_LABELS, **labels}},
    }
    _, created = calls.create(client_for(cluster), body, doing=f"creating namespace {name}")
    return created


def apply_quota(cluster, namespace: str, hard: dict[str, str]) -> None:
    """Creates or replaces the target's ResourceQuota; an empty ``hard`` removes it."""
    api = client_for(cluster)
    if not hard:
        calls.delete(
            api, "v1", "ResourceQuota", QUOTA_NAME, namespace=namespace, doing="removing the quota"
        )
        return
    body = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA_NAME, "namespace": namespace, "labels": MANAGED_LABELS},
        "spec": {"hard": hard},
    }
    calls.create(api, body, replace=True, doing=f"applying the quota in {namespace}")


def ensure_claim(cluster, namespace: str, name: str, size: str) -> bool:
    """Creates the PersistentVolumeClaim ``name`` (ReadWriteMany, ``size``) unless one of
    that name exists, which is kept as it is; returns True when it created it."""
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": MANAGED_LABELS},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": size}}},
    }
    _, created = calls.create(
        client_for(cluster), body, doing=f"creating the outputs claim in {namespace}"
    )
    return created


def read_quota(cluster, namespace: str) -> dict | None:
    """Returns {"hard": {...}, "used": {...}} of the target's quota, or None when there is none."""
    try:
        data = calls.get(
            client_for(cluster), "v1", "ResourceQuota", QUOTA_NAME, namespace=namespace
        )
    except ClusterError as err:
        if err.kind == ErrorKind.NOT_FOUND:
            return None
        raise
    status = data.get("status") or {}
    return {
        "hard": status.get("hard") or data["spec"].get("hard", {}),
        "used": status.get("used") or {},
    }


# ---- instance types ---------------------------------------------------------------


def list_instance_types(cluster) -> list[dict] | None:
    """Returns the cluster's InstanceType objects, or None when the extension is not installed."""
    try:
        return calls.list_objects(
            client_for(cluster), INSTANCE_TYPE_API, "InstanceType", doing="listing instance types"
        )
    except ClusterError as err:
        if err.kind == ErrorKind.NOT_FOUND:
            return None
        raise


def apply_instance_type(cluster, body: dict) -> str:
    """Creates or replaces an InstanceType object; returns its new resourceVersion."""
    name = body["metadata"]["name"]
    obj, _ = calls.create(
        client_for(cluster), body, replace=True, doing=f"writing instance type {name}"
    )
    return obj["metadata"]["resourceVersion"]


def delete_instance_type(cluster, name: str) -> None:
    calls.delete(
        client_for(cluster),
        INSTANCE_TYPE_API,
        "InstanceType",
        name,
        doing=f"deleting instance type {name}",
    )


# ---- nodes and usage ----------------------------------------------------------------


def _requested_by_node(pods: list[dict]) -> tuple[dict[str, dict], dict[str, int]]:
    """Summed container requests (limits where no request is set) and pod counts per node."""
    usage: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            continue
        counts[node] = counts.get(node, 0) + 1
        sums = usage.setdefault(node, {})
        for container in pod["spec"].get("containers", []):
            resources = container.get("resources") or {}
            requests = dict(resources.get("limits") or {}) | dict(resources.get("requests") or {})
            for key, value in requests.items():
                sums[key] = sums.get(key, 0) + quantity.parse(value)
    return usage, counts


def list_nodes_and_usage(cluster) -> list[dict]:
    """Returns nodes as plain dicts with ``requested`` (summed requests of live pods) and ``pod_count``."""
    api = client_for(cluster)
    nodes = calls.list_objects(api, "v1", "Node", doing="listing nodes")
    pods = calls.list_objects(
        api,
        "v1",
        "Pod",
        field_selector="status.phase!=Succeeded,status.phase!=Failed",
        doing="listing pods",
    )
    usage, counts = _requested_by_node(pods)
    result = []
    for node in nodes:
        name = node["metadata"]["name"]
        spec, status = node.get("spec") or {}, node.get("status") or {}
        result.append(
            {
                "name": name,
                "labels": node["metadata"].get("labels") or {},
                "taints": spec.get("taints") or [],
                "unschedulable": bool(spec.get("unschedulable")),
                "capacity": status.get("capacity") or {},
                "allocatable": status.get("allocatable") or {},
                "conditions": [
                    {k: c.get(k) for k in ("type", "status", "reason", "message")}
                    for c in status.get("conditions") or []
                ],
                "requested": {k: str(v) for k, v in usage.get(name, {}).items()},
                "pod_count": counts.get(name, 0),
            }
        )
    return result
