"""RBAC authorization as Kubernetes evaluates it: bindings, roles, rules.

A request is allowed when some ClusterRoleBinding, or some RoleBinding in the request's
namespace, binds the user (by name, group or service account) to a role with a rule that
matches the verb, API group, resource (with subresource) and, when the rule names any,
the object's name. There are no deny rules; aggregation is not evaluated. Admin users skip
RBAC; read-only users may get, list and watch anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kubesim.auth import READ_VERBS, User
from kubesim.store import Store

RBAC = "rbac.authorization.k8s.io"
# Every authenticated user may ask what it may do (Kubernetes' system:basic-user).
_ALWAYS = {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a request does, in the terms RBAC rules speak."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""  # non-resource requests (``/healthz``) carry a path instead


@dataclass(frozen=True, slots=True)
class Grant:
    """A role reached through a binding: the rules a user holds and where from."""

    binding_kind: str
    binding: str
    role_kind: str
    role: str
    namespace: str
    rules: tuple[dict, ...]


def _subject_matches(subject: dict, user: User, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa = user.service_account
        return sa is not None and sa == (subject.get("namespace") or binding_ns, name)
    return False


def _role_rules(store: Store, kind: str, name: str, namespace: str) -> tuple[dict, ...]:
    if kind == "ClusterRole":
        role = store.peek(f"clusterroles.{RBAC}", name)
    else:
        role = store.peek(f"roles.{RBAC}", name, namespace=namespace)
    return tuple((role or {}).get("rules") or ())


def grants(store: Store, user: User, namespace: str = "") -> Iterator[Grant]:
    """Yield the roles bound to ``user`` cluster-wide and, if given, in ``namespace``."""
    for binding in store.select(f"clusterrolebindings.{RBAC}"):
        if any(_subject_matches(s, user, "") for s in binding.get("subjects") or ()):
            ref = binding.get("roleRef") or {}
            rules = _role_rules(store, "ClusterRole", ref.get("name", ""), "")
            yield Grant(
                "ClusterRoleBinding",
                binding["metadata"]["name"],
                "ClusterRole",
                ref.get("name", ""),
                "",
                rules,
            )
    if not namespace:
        return
    for binding in store.select(f"rolebindings.{RBAC}", namespace=namespace):
        if any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or ()):
            ref = binding.get("roleRef") or {}
            kind = ref.get("kind", "Role")
            yield Grant(
                "RoleBinding",
                binding["metadata"]["name"],
                kind,
                ref.get("name", ""),
                namespace,
                _role_rules(store, kind, ref.get("name", ""), namespace),
            )


def _has(values: list | tuple | None, want: str) -> bool:
    return bool(values) and ("*" in values or want in values)


def _resource_matches(resources: list | None, attrs: Attributes) -> bool:
    full = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    for item in resources or ():
        if item in ("*", full):
            return True
        if attrs.subresource and item in (f"*/{attrs.subresource}", f"{attrs.resource}/*"):
            return True
    return False


def rule_allows(rule: dict, attrs: Attributes) -> bool:
    """Return whether one PolicyRule covers the request."""
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if attrs.path:
        urls = rule.get("nonResourceURLs") or ()
        return any(
            u == attrs.path or (u.endswith("*") and attrs.path.startswith(u[:-1])) for u in urls
        )
    if not _has(rule.get("apiGroups"), attrs.group):
        return False
    if not _resource_matches(rule.get("resources"), attrs):
        return False
    names = rule.get("resourceNames")
    return not names or attrs.name in names


def authorize(store: Store, user: User, attrs: Attributes) -> tuple[bool, str]:
    """Return (allowed, reason) for ``user`` doing ``attrs``; the reason names the grant."""
    if user.admin:
        return True, ""
    # Self-reviews and discovery are open to every authenticated user, as the default
    # system:basic-user and system:discovery bindings make them.
    if attrs.group == "authorization.k8s.io" and attrs.resource in _ALWAYS:
        return True, ""
    if attrs.path and attrs.verb == "get":
        return True, ""
    if user.readonly:
        return attrs.verb in READ_VERBS, ""
    for grant in grants(store, user, attrs.namespace):
        if any(rule_allows(rule, attrs) for rule in grant.rules):
            where = f' in namespace "{grant.namespace}"' if grant.namespace else ""
            return True, (
                f'RBAC: allowed by {grant.binding_kind} "{grant.binding}{where}" of '
                f'{grant.role_kind} "{grant.role}" to User "{user.name}"'
            )
    return False, ""


def rules_for(store: Store, user: User, namespace: str) -> tuple[list[dict], list[dict]]:
    """Return (resource rules, non-resource rules) ``user`` holds in ``namespace``."""
    if user.admin:
        everything = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
        return [everything], [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
    resource_rules: list[dict] = [
        {
            "verbs": ["create"],
            "apiGroups": ["authorization.k8s.io"],
            "resources": sorted(_ALWAYS),
        }
    ]
    if user.readonly:
        resource_rules.append({"verbs": list(READ_VERBS), "apiGroups": ["*"], "resources": ["*"]})
    nonresource: list[dict] = [
        {
            "verbs": ["get"],
            "nonResourceURLs": [
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            ],
        }
    ]
    for grant in grants(store, user, namespace):
        for rule in grant.rules:
            if rule.get("nonResourceURLs"):
                nonresource.append(
                    {
                        "verbs": list(rule.get("verbs") or ()),
                        "nonResourceURLs": list(rule["nonResourceURLs"]),
                    }
                )
                continue
            entry = {
                "verbs": list(rule.get("verbs") or ()),
                "apiGroups": list(rule.get("apiGroups") or ()),
                "resources": list(rule.get("resources") or ()),
            }
            if rule.get("resourceNames"):
                entry["resourceNames"] = list(rule["resourceNames"])
            resource_rules.append(entry)
    return resource_rules, nonresource


_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_WORKLOADS = [
    (
        "",
        [
            "pods",
            "pods/log",
            "services",
            "configmaps",
            "secrets",
            "serviceaccounts",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "events",
            "resourcequotas",
        ],
    ),
    (
        "apps",
        [
            "deployments",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
            "daemonsets",
            "controllerrevisions",
        ],
    ),
    ("batch", ["jobs", "cronjobs"]),
    ("policy", ["poddisruptionbudgets"]),
    ("coordination.k8s.io", ["leases"]),
]


def _role(name: str, rules: list[dict]) -> dict:
    labels = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    return {"metadata": {"name": name, "labels": labels}, "rules": rules}


def _rules(verbs: list[str], *, secrets: bool = True) -> list[dict]:
    return [
        {"verbs": verbs, "apiGroups": [g], "resources": [x for x in r if secrets or x != "secrets"]}
        for g, r in _WORKLOADS
    ]


# The user-facing roles every cluster has (aggregation aside, with their usual reach).
DEFAULT_CLUSTER_ROLES = (
    _role(
        "cluster-admin",
        [
            {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
            {"verbs": ["*"], "nonResourceURLs": ["*"]},
        ],
    ),
    _role(
        "admin",
        _rules(_READ + _WRITE)
        + [
            {
                "verbs": ["create"],
                "apiGroups": [""],
                "resources": ["pods/exec", "pods/attach", "pods/portforward"],
            },
            {"verbs": _READ + _WRITE, "apiGroups": [RBAC], "resources": ["roles", "rolebindings"]},
        ],
    ),
    _role(
        "edit",
        _rules(_READ + _WRITE)
        + [
            {
                "verbs": ["create"],
                "apiGroups": [""],
                "resources": ["pods/exec", "pods/attach", "pods/portforward"],
            }
        ],
    ),
    _role("view", _rules(_READ, secrets=False)),
)
