"""The resource types the simulator serves, built in or defined by CRDs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(slots=True)
class ResourceType:
    """One REST resource: where it is served and how its objects look.

    ``key`` is the store name: the plural for the core group, ``plural.group`` otherwise.
    """

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    status_subresource: bool = False
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # "label" when names must be DNS-1123 labels, "subdomain" for subdomains, "" for none.
    name_rule: str = "subdomain"
    categories: tuple[str, ...] = ()
    crd: bool = False
    # Kinds served by every version of a CRD; the storage version comes first.
    versions: tuple[str, ...] = field(default_factory=tuple)
    # A CRD's additionalPrinterColumns (name, type, jsonPath) besides Age, for tables.
    columns: tuple[tuple[str, str, str], ...] = ()

    @property
    def key(self) -> str:
        """Return the store key: ``pods`` or ``jobs.batch``."""
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    @property
    def api_version(self) -> str:
        """Return the apiVersion string objects of this type carry (``v1``, ``batch/v1``)."""
        return self.version if not self.group else f"{self.group}/{self.version}"

    @property
    def served_versions(self) -> tuple[str, ...]:
        """Return every version this resource is served under."""
        return self.versions or (self.version,)


def _core(plural: str, singular: str, kind: str, namespaced: bool = True, **kw) -> ResourceType:
    return ResourceType("", "v1", plural, singular, kind, namespaced, **kw)


def _api(group: str, plural: str, kind: str, namespaced: bool = True, **kw) -> ResourceType:
    """Return a type of a named group at v1 (singular name: the kind in lower case)."""
    version = kw.pop("version", "v1")
    return ResourceType(group, version, plural, kind.lower(), kind, namespaced, **kw)


_STATUS = {"status_subresource": True, "subresources": ("status",)}
_SCALED = {"status_subresource": True, "subresources": ("status", "scale")}
_RBAC = "rbac.authorization.k8s.io"
_AUTHZ = "authorization.k8s.io"
_REVIEW = {"verbs": ("create",), "name_rule": ""}

BUILTINS: tuple[ResourceType, ...] = (
    _core(
        "namespaces",
        "namespace",
        "Namespace",
        False,
        short_names=("ns",),
        status_subresource=True,
        subresources=("status", "finalize"),
        name_rule="label",
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    ),
    _core("nodes", "node", "Node", False, short_names=("no",), **_STATUS),
    _core(
        "pods",
        "pod",
        "Pod",
        short_names=("po",),
        status_subresource=True,
        subresources=("status", "log", "exec", "attach", "portforward", "proxy"),
        categories=("all",),
    ),
    _core("events", "event", "Event", short_names=("ev",), name_rule=""),
    _core(
        "services",
        "service",
        "Service",
        short_names=("svc",),
        name_rule="label",
        categories=("all",),
        status_subresource=True,
        subresources=("status", "proxy"),
    ),
    _core("configmaps", "configmap", "ConfigMap", short_names=("cm",)),
    _core("secrets", "secret", "Secret"),
    _core(
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        short_names=("sa",),
        subresources=("token",),
    ),
    _core("resourcequotas", "resourcequota", "ResourceQuota", short_names=("quota",), **_STATUS),
    _core(
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        short_names=("pvc",),
        **_STATUS,
    ),
    _core(
        "replicationcontrollers",
        "replicationcontroller",
        "ReplicationController",
        short_names=("rc",),
        categories=("all",),
        **_SCALED,
    ),
    _api("batch", "jobs", "Job", categories=("all",), **_STATUS),
    _api("batch", "cronjobs", "CronJob", short_names=("cj",), categories=("all",), **_STATUS),
    _api(
        "apps", "deployments", "Deployment", short_names=("deploy",), categories=("all",), **_SCALED
    ),
    _api("apps", "replicasets", "ReplicaSet", short_names=("rs",), categories=("all",), **_SCALED),
    _api("apps", "daemonsets", "DaemonSet", short_names=("ds",), categories=("all",), **_STATUS),
    _api(
        "apps", "statefulsets", "StatefulSet", short_names=("sts",), categories=("all",), **_SCALED
    ),
    _api("apps", "controllerrevisions", "ControllerRevision"),
    _api("policy", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",), **_STATUS),
    _api("scheduling.k8s.io", "priorityclasses", "PriorityClass", False, short_names=("pc",)),
    _api("apiregistration.k8s.io", "apiservices", "APIService", False, **_STATUS),
    _api(_RBAC, "roles", "Role", name_rule=""),
    _api(_RBAC, "rolebindings", "RoleBinding", name_rule=""),
    _api(_RBAC, "clusterroles", "ClusterRole", False, name_rule=""),
    _api(_RBAC, "clusterrolebindings", "ClusterRoleBinding", False, name_rule=""),
    _api("coordination.k8s.io", "leases", "Lease"),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        **_STATUS,
    ),
    _api(_AUTHZ, "selfsubjectaccessreviews", "SelfSubjectAccessReview", False, **_REVIEW),
    _api(_AUTHZ, "selfsubjectrulesreviews", "SelfSubjectRulesReview", False, **_REVIEW),
)

# Storage, endpoints, autoscaling and the metrics API (served for the local runtime;
# PersistentVolumeClaims are above, with the workload kinds).
BUILTINS += (
    _core(
        "persistentvolumes",
        "persistentvolume",
        "PersistentVolume",
        False,
        short_names=("pv",),
        status_subresource=True,
        subresources=("status",),
    ),
    ResourceType(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "storageclass",
        "StorageClass",
        False,
        short_names=("sc",),
    ),
    _core("endpoints", "endpoints", "Endpoints", short_names=("ep",), name_rule=""),
    ResourceType(
        "discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", True
    ),
    ResourceType(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        True,
        short_names=("hpa",),
        status_subresource=True,
        subresources=("status",),
        categories=("all",),
    ),
    ResourceType(
        "metrics.k8s.io",
        "v1beta1",
        "pods",
        "",
        "PodMetrics",
        True,
        verbs=("get", "list"),
        name_rule="",
    ),
    ResourceType(
        "metrics.k8s.io",
        "v1beta1",
        "nodes",
        "",
        "NodeMetrics",
        False,
        verbs=("get", "list"),
        name_rule="",
    ),
)

# Resources answered by a handler instead of being stored.
VIRTUAL = {
    "selfsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io",
}

# The order groups are listed in discovery (core first, then as Kubernetes lists them).
GROUP_ORDER = (
    "",
    "apiregistration.k8s.io",
    "apps",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "apiextensions.k8s.io",
    "discovery.k8s.io",
    "metrics.k8s.io",
)


Converter = Callable[[dict, str], dict]


class ResourceRegistry:
    """Known resource types, looked up by store key or by (group, version, plural)."""

    def __init__(self) -> None:
        self._by_key: dict[str, ResourceType] = {}
        # store key -> convert(obj, version): what a conversion webhook answers for a CRD
        # whose versions differ in shape (objects are stored at the storage version).
        self.converters: dict[str, Converter] = {}
        for rt in BUILTINS:
            self.add(rt)

    def convert(self, rt: ResourceType, obj: dict, version: str) -> dict:
        """Return ``obj`` as served at ``version``: converted when the type has a converter
        and ``obj`` is at another version, else only its apiVersion rewritten."""
        want = version if not rt.group else f"{rt.group}/{version}"
        if obj.get("apiVersion") == want:
            return obj
        converter = self.converters.get(rt.key)
        if converter is not None:
            return converter(obj, version)
        return {**obj, "apiVersion": want}

    def add(self, rt: ResourceType) -> None:
        """Register (or replace) a resource type."""
        self._by_key[rt.key] = rt

    def remove(self, key: str) -> ResourceType | None:
        """Unregister a resource type; return it, or None if unknown."""
        return self._by_key.pop(key, None)

    def get(self, key: str) -> ResourceType | None:
        """Return the type with store key ``key`` (e.g. ``jobs.batch``), or None."""
        return self._by_key.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._by_key.values()))

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """Return the type served at ``/apis/<group>/<version>/<plural>`` (or /api/v1), or None."""
        rt = self._by_key.get(plural if not group else f"{plural}.{group}")
        if rt is None or version not in rt.served_versions:
            return None
        return rt

    def groups(self) -> dict[str, list[str]]:
        """Return {group: [versions]} for every group with at least one resource."""
        out: dict[str, list[str]] = {}
        for rt in self._by_key.values():
            versions = out.setdefault(rt.group, [])
            for v in rt.served_versions:
                if v not in versions:
                    versions.append(v)
        ordered = {g: out[g] for g in GROUP_ORDER if g in out}
        ordered.update({g: v for g, v in sorted(out.items()) if g not in ordered})
        return ordered

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        """Return the types served under ``group``/``version``."""
        return [
            rt
            for rt in self._by_key.values()
            if rt.group == group and version in rt.served_versions
        ]
