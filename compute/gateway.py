"""All cluster I/O of the compute app.

One isolated ``ApiClient`` per cluster, built from its decrypted credentials
(never the global default configuration). Every call passes a time-out, returns
plain data and turns ``ApiException`` and connection failures into
``ClusterError`` with a sentence a person can act on.
"""

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field

import orjson
import urllib3
from django.conf import settings
from kubernetes import client
from kubernetes.client.rest import ApiException

from compute import credentials as creds

log = logging.getLogger(__name__)

GROUP = "kubeportal.io"
VERSION = "v1alpha1"
PLURAL = "instancetypes"
AZURE_API_VERSION = "amlarc.azureml.com/v1alpha1"
SYSTEM_NAMESPACE = "kubeportal-system"
SERVICE_ACCOUNT = "kubeportal-workload"
MANAGED_LABELS = {"app.kubernetes.io/managed-by": "kubeportal"}

DEFAULT_INSTANCE_TYPE = {
    "name": "defaultinstancetype",
    "nodeSelector": {},
    "resources": {
        "requests": {"cpu": "100m", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    },
}

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
    ("create", "batch", "jobs"),
    ("delete", "batch", "jobs"),
    ("watch", "batch", "jobs"),
    ("create", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("create", "rbac.authorization.k8s.io", "clusterroles"),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
]


class ClusterError(Exception):
    """A cluster call failed. ``kind``: unreachable, unauthorized, forbidden, not_found,
    conflict, invalid, refused (quota or admission), error."""

    def __init__(self, kind: str, message: str, status: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


def _timeout() -> tuple[float, float]:
    return (min(5.0, settings.KUBE_REQUEST_TIMEOUT), float(settings.KUBE_REQUEST_TIMEOUT))


_cert_dir = tempfile.mkdtemp(prefix="kubeportal-certs-")
_clients: dict[tuple[int, str], client.ApiClient] = {}
_clients_lock = threading.Lock()


def _pem_file(data: str) -> str:
    """Writes PEM data to a private (0600) file named by its hash; returns the path."""
    path = os.path.join(_cert_dir, hashlib.sha256(data.encode()).hexdigest() + ".pem")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(data)
    return path


def build_client(server: str, secret: dict) -> client.ApiClient:
    """Returns a new ApiClient for ``server`` with ``secret`` (token or client cert, CA)."""
    config = client.Configuration()
    config.host = server
    config.retries = 0
    if secret.get("token"):
        config.api_key = {"BearerToken": secret["token"]}
        config.api_key_prefix = {"BearerToken": "Bearer"}
    if secret.get("client_certificate"):
        config.cert_file = _pem_file(secret["client_certificate"])
        config.key_file = _pem_file(secret["client_key"])
    if secret.get("ca_data"):
        config.ssl_ca_cert = _pem_file(secret["ca_data"])
    config.verify_ssl = not secret.get("insecure", False)
    return client.ApiClient(configuration=config)


def client_for(cluster) -> client.ApiClient:
    """The cached ApiClient of ``cluster``; rebuilt when its credentials change."""
    blob = bytes(cluster.credentials)
    key = (cluster.pk, hashlib.sha256(blob).hexdigest())
    with _clients_lock:
        api = _clients.get(key)
        if api is None:
            api = build_client(cluster.server, creds.decrypt(blob))
            _clients[key] = api
        return api


def translate(exc: Exception, doing: str) -> ClusterError:
    """Turns a client failure into a ClusterError that says what went wrong and what to do."""
    if isinstance(exc, ClusterError):
        return exc
    if isinstance(exc, ApiException):
        message = ""
        try:
            message = json.loads(exc.body or "{}").get("message", "")
        except (ValueError, AttributeError):
            message = (exc.body or "")[:300] if isinstance(exc.body, str) else ""
        status = exc.status
        if status == 401:
            return ClusterError(
                "unauthorized",
                f"The cluster rejected the credentials while {doing}: the token is invalid or expired. Attach again with a valid token.",
                status,
            )
        if status == 403:
            if "exceeded quota" in message:
                return ClusterError(
                    "refused", f"The namespace quota refused it while {doing}: {message}", status
                )
            return ClusterError(
                "forbidden",
                f"The portal's credentials may not do this while {doing}: {message or 'forbidden'}. Grant the missing permission to the portal's account.",
                status,
            )
        if status == 404:
            return ClusterError(
                "not_found",
                f"Not found while {doing}: {message or 'the object does not exist'}.",
                status,
            )
        if status == 409:
            return ClusterError("conflict", f"Conflict while {doing}: {message}", status)
        if status == 422:
            return ClusterError(
                "invalid", f"The cluster refused the object while {doing}: {message}", status
            )
        if status in (429, 500, 502, 503, 504):
            return ClusterError(
                "unreachable",
                f"The API server answered {status} while {doing}; it will be retried.",
                status,
            )
        return ClusterError(
            "error", f"The API server answered {status} while {doing}: {message}", status
        )
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError | TimeoutError):
        return ClusterError(
            "unreachable",
            f"Could not reach the API server while {doing}: {type(exc).__name__}. Check the URL and that the cluster is up.",
        )
    return ClusterError("error", f"Unexpected error while {doing}: {exc}")


def _call(doing: str, fn, *args, **kwargs):
    try:
        return fn(*args, _request_timeout=_timeout(), **kwargs)
    except Exception as exc:  # noqa: BLE001 - translated into a ClusterError
        raise translate(exc, doing) from exc


def _raw_json(doing: str, fn, *args, **kwargs) -> dict:
    """Calls a typed API method but decodes the body as plain JSON (much faster for big lists)."""
    response = _call(doing, fn, *args, _preload_content=False, **kwargs)
    try:
        return orjson.loads(response.data)
    finally:
        response.release_conn()


# ---- checks -------------------------------------------------------------------


@dataclass
class CheckResult:
    version: str
    node_count: int
    missing: list[str] = field(default_factory=list)


def check(api: client.ApiClient) -> CheckResult:
    """Returns the server version, node count and the permissions the credentials lack."""
    version = _call("reading the server version", client.VersionApi(api).get_code)
    nodes = _raw_json("listing nodes", client.CoreV1Api(api).list_node)
    missing = []
    authz = client.AuthorizationV1Api(api)
    for verb, group, resource in REQUIRED_PERMISSIONS:
        res, _, sub = resource.partition("/")
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, group=group, resource=res, subresource=sub or None
                )
            )
        )
        result = _call("checking permissions", authz.create_self_subject_access_review, review)
        if not result.status.allowed:
            missing.append(f"{verb} {resource}{'.' + group if group else ''}")
    return CheckResult(
        version=version.git_version, node_count=len(nodes.get("items", [])), missing=missing
    )


# ---- the extension -------------------------------------------------------------


def instance_type_crd() -> dict:
    quantity = {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    }
    resources = {"type": "object", "additionalProperties": quantity}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}", "labels": MANAGED_LABELS},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "plural": PLURAL,
                "singular": "instancetype",
                "kind": "InstanceType",
                "listKind": "InstanceTypeList",
                "shortNames": ["it"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "nodeSelector": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                        "resources": {
                                            "type": "object",
                                            "properties": {
                                                "requests": resources,
                                                "limits": resources,
                                            },
                                        },
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def instance_type_object(name: str, node_selector: dict, requests: dict, limits: dict) -> dict:
    spec: dict = {"resources": {"requests": requests, "limits": limits}}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InstanceType",
        "metadata": {"name": name, "labels": MANAGED_LABELS},
        "spec": spec,
    }


def _create_or_replace(doing: str, create, replace, read, body: dict, *args) -> None:
    try:
        _call(doing, create, *args, body)
    except ClusterError as err:
        if err.kind != "conflict":
            raise
        try:
            current = read(body["metadata"]["name"], *args)
        except Exception as exc:  # noqa: BLE001 - translated
            raise translate(exc, doing) from exc
        version = (
            current["metadata"]["resourceVersion"]
            if isinstance(current, dict)
            else current.metadata.resource_version
        )
        body = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
        _call(doing, replace, body["metadata"]["name"], *args, body)


def extension_steps(settings_: dict) -> list[tuple[str, callable]]:
    """Returns the install steps as (title, fn(api)) pairs; each is idempotent."""

    def crd(api):
        ext = client.ApiextensionsV1Api(api)
        _create_or_replace(
            "installing the InstanceType definition",
            ext.create_custom_resource_definition,
            ext.replace_custom_resource_definition,
            lambda name: api.sanitize_for_serialization(
                ext.read_custom_resource_definition(name, _request_timeout=_timeout())
            ),
            instance_type_crd(),
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            current = _call(
                "waiting for the definition",
                ext.read_custom_resource_definition,
                f"{PLURAL}.{GROUP}",
            )
            conditions = (current.status.conditions if current.status else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                return
            time.sleep(0.2)
        raise ClusterError(
            "error", "The InstanceType definition was not established within 15 seconds."
        )

    def default_type(api):
        custom = client.CustomObjectsApi(api)
        body = instance_type_object(
            DEFAULT_INSTANCE_TYPE["name"],
            {},
            DEFAULT_INSTANCE_TYPE["resources"]["requests"],
            DEFAULT_INSTANCE_TYPE["resources"]["limits"],
        )
        try:
            _call(
                "creating defaultinstancetype",
                custom.create_cluster_custom_object,
                GROUP,
                VERSION,
                PLURAL,
                body,
            )
        except ClusterError as err:
            if err.kind != "conflict":  # an existing one (maybe edited by IT ops) is kept
                raise

    def namespace(api):
        ensure_namespace(api, SYSTEM_NAMESPACE, {})

    def service_account(api):
        core = client.CoreV1Api(api)
        body = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": SERVICE_ACCOUNT,
                "namespace": SYSTEM_NAMESPACE,
                "labels": MANAGED_LABELS,
            },
        }
        try:
            _call(
                "creating the workload service account",
                core.create_namespaced_service_account,
                SYSTEM_NAMESPACE,
                body,
            )
        except ClusterError as err:
            if err.kind != "conflict":
                raise

    def rbac(api):
        rbac_api = client.RbacAuthorizationV1Api(api)
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "kubeportal-workload", "labels": MANAGED_LABELS},
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
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubeportal-workload", "labels": MANAGED_LABELS},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "kubeportal-workload",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": SYSTEM_NAMESPACE}
            ],
        }
        _create_or_replace(
            "creating the workload role",
            rbac_api.create_cluster_role,
            rbac_api.replace_cluster_role,
            lambda n: api.sanitize_for_serialization(
                rbac_api.read_cluster_role(n, _request_timeout=_timeout())
            ),
            role,
        )
        _create_or_replace(
            "binding the workload role",
            rbac_api.create_cluster_role_binding,
            rbac_api.replace_cluster_role_binding,
            lambda n: api.sanitize_for_serialization(
                rbac_api.read_cluster_role_binding(n, _request_timeout=_timeout())
            ),
            binding,
        )

    def config(api):
        core = client.CoreV1Api(api)
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "kubeportal-extension",
                "namespace": SYSTEM_NAMESPACE,
                "labels": MANAGED_LABELS,
            },
            "data": {"settings.json": json.dumps(settings_, sort_keys=True)},
        }
        _create_or_replace(
            "saving the extension settings",
            core.create_namespaced_config_map,
            core.replace_namespaced_config_map,
            lambda n, ns: api.sanitize_for_serialization(
                core.read_namespaced_config_map(n, ns, _request_timeout=_timeout())
            ),
            body,
            SYSTEM_NAMESPACE,
        )

    return [
        ("InstanceType custom resource definition", crd),
        ("defaultinstancetype", default_type),
        (f"Namespace {SYSTEM_NAMESPACE}", namespace),
        ("Workload service account", service_account),
        ("RBAC for workloads", rbac),
        ("Extension settings", config),
    ]


def uninstall_steps() -> list[tuple[str, callable]]:
    def crd(api):
        try:
            _call(
                "removing the InstanceType definition",
                client.ApiextensionsV1Api(api).delete_custom_resource_definition,
                f"{PLURAL}.{GROUP}",
            )
        except ClusterError as err:
            if err.kind != "not_found":
                raise

    def rbac(api):
        rbac_api = client.RbacAuthorizationV1Api(api)
        for fn in (rbac_api.delete_cluster_role_binding, rbac_api.delete_cluster_role):
            try:
                _call("removing the workload role", fn, "kubeportal-workload")
            except ClusterError as err:
                if err.kind != "not_found":
                    raise

    def namespace(api):
        try:
            _call(
                f"removing namespace {SYSTEM_NAMESPACE}",
                client.CoreV1Api(api).delete_namespace,
                SYSTEM_NAMESPACE,
            )
        except ClusterError as err:
            if err.kind != "not_found":
                raise

    return [
        ("RBAC for workloads", rbac),
        ("InstanceType definition and objects", crd),
        (f"Namespace {SYSTEM_NAMESPACE}", namespace),
    ]


# ---- namespaces and quotas ------------------------------------------------------


def list_namespaces(api) -> list[str]:
    data = _raw_json("listing namespaces", client.CoreV1Api(api).list_namespace)
    return sorted(item["metadata"]["name"] for item in data.get("items", []))


def namespace_exists(api, name: str) -> bool:
    try:
        _call(f"reading namespace {name}", client.CoreV1Api(api).read_namespace, name)
        return True
    except ClusterError as err:
        if err.kind == "not_found":
            return False
        raise


def ensure_namespace(api, name: str, labels: dict) -> bool:
    """Creates the namespace with ``labels`` unless it exists; returns True when it created it."""
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**MANAGED_LABELS, **labels}},
    }
    try:
        _call(f"creating namespace {name}", client.CoreV1Api(api).create_namespace, body)
        return True
    except ClusterError as err:
        if err.kind == "conflict":
            return False
        raise


QUOTA_NAME = "kubeportal-quota"


def apply_quota(api, namespace: str, hard: dict[str, str]) -> None:
    """Creates or replaces the target's ResourceQuota; an empty ``hard`` removes it."""
    core = client.CoreV1Api(api)
    if not hard:
        try:
            _call(
                "removing the quota", core.delete_namespaced_resource_quota, QUOTA_NAME, namespace
            )
        except ClusterError as err:
            if err.kind != "not_found":
                raise
        return
    body = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA_NAME, "namespace": namespace, "labels": MANAGED_LABELS},
        "spec": {"hard": hard},
    }
    _create_or_replace(
        f"applying the quota in {namespace}",
        core.create_namespaced_resource_quota,
        core.replace_namespaced_resource_quota,
        lambda n, ns: api.sanitize_for_serialization(
            core.read_namespaced_resource_quota(n, ns, _request_timeout=_timeout())
        ),
        body,
        namespace,
    )


def read_quota(api, namespace: str) -> dict | None:
    """Returns {"hard": {...}, "used": {...}} of the target's quota, or None when there is none."""
    try:
        data = _raw_json(
            f"reading the quota in {namespace}",
            client.CoreV1Api(api).read_namespaced_resource_quota,
            QUOTA_NAME,
            namespace,
        )
    except ClusterError as err:
        if err.kind == "not_found":
            return None
        raise
    status = data.get("status") or {}
    return {
        "hard": status.get("hard") or data["spec"].get("hard", {}),
        "used": status.get("used") or {},
    }


# ---- instance types ---------------------------------------------------------------


def list_instance_types(api) -> list[dict] | None:
    """Returns the cluster's InstanceType objects, or None when the extension is not installed."""
    try:
        data = _call(
            "listing instance types",
            client.CustomObjectsApi(api).list_cluster_custom_object,
            GROUP,
            VERSION,
            PLURAL,
        )
    except ClusterError as err:
        if err.kind == "not_found":
            return None
        raise
    return data.get("items", [])


def apply_instance_type(api, body: dict) -> str:
    """Creates or replaces an InstanceType object; returns its new resourceVersion."""
    custom = client.CustomObjectsApi(api)
    name = body["metadata"]["name"]
    try:
        created = _call(
            f"creating instance type {name}",
            custom.create_cluster_custom_object,
            GROUP,
            VERSION,
            PLURAL,
            body,
        )
        return created["metadata"]["resourceVersion"]
    except ClusterError as err:
        if err.kind != "conflict":
            raise
    current = _call(
        f"reading instance type {name}",
        custom.get_cluster_custom_object,
        GROUP,
        VERSION,
        PLURAL,
        name,
    )
    body = {
        **body,
        "metadata": {**body["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
    }
    replaced = _call(
        f"updating instance type {name}",
        custom.replace_cluster_custom_object,
        GROUP,
        VERSION,
        PLURAL,
        name,
        body,
    )
    return replaced["metadata"]["resourceVersion"]


def delete_instance_type(api, name: str) -> None:
    try:
        _call(
            f"deleting instance type {name}",
            client.CustomObjectsApi(api).delete_cluster_custom_object,
            GROUP,
            VERSION,
            PLURAL,
            name,
        )
    except ClusterError as err:
        if err.kind != "not_found":
            raise


# ---- nodes and usage ----------------------------------------------------------------


def list_nodes_and_usage(api) -> list[dict]:
    """Returns nodes as plain dicts with ``requested`` (summed requests of live pods) and ``pod_count``."""
    core = client.CoreV1Api(api)
    nodes = _raw_json("listing nodes", core.list_node).get("items", [])
    pods = _raw_json(
        "listing pods",
        core.list_pod_for_all_namespaces,
        field_selector="status.phase!=Succeeded,status.phase!=Failed",
    ).get("items", [])
    from compute import quantity

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
    result = []
    for node in nodes:
        name = node["metadata"]["name"]
        result.append(
            {
                "name": name,
                "labels": node["metadata"].get("labels") or {},
                "taints": (node.get("spec") or {}).get("taints") or [],
                "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
                "capacity": (node.get("status") or {}).get("capacity") or {},
                "allocatable": (node.get("status") or {}).get("allocatable") or {},
                "conditions": [
                    {k: c.get(k) for k in ("type", "status", "reason", "message")}
                    for c in (node.get("status") or {}).get("conditions") or []
                ],
                "requested": {k: str(v) for k, v in usage.get(name, {}).items()},
                "pod_count": counts.get(name, 0),
            }
        )
    return result
