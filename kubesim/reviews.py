"""The authorization endpoints: SelfSubjectAccessReview, SelfSubjectRulesReview, and
service-account token requests (``serviceaccounts/<name>/token``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kubesim.auth import Authenticator, User
from kubesim.errors import bad_request, not_found
from kubesim.rbac import Attributes, authorize, rules_for
from kubesim.store import Store

AUTHZ = "authorization.k8s.io/v1"
DEFAULT_TOKEN_SECONDS = 3600


def access_review(store: Store, user: User, body: dict) -> dict:
    """Return the SelfSubjectAccessReview ``body`` with its ``status`` answered for ``user``."""
    spec = body.get("spec") or {}
    res = spec.get("resourceAttributes")
    nonres = spec.get("nonResourceAttributes")
    if res is not None:
        attrs = Attributes(
            verb=res.get("verb") or "get",
            group=res.get("group") or "",
            resource=res.get("resource") or "",
            subresource=res.get("subresource") or "",
            name=res.get("name") or "",
            namespace=res.get("namespace") or "",
        )
    elif nonres is not None:
        attrs = Attributes(verb=nonres.get("verb") or "get", path=nonres.get("path") or "/")
    else:
        raise bad_request(
            "SelfSubjectAccessReview is invalid: spec: exactly one of "
            "nonResourceAttributes or resourceAttributes must be specified"
        )
    allowed, reason = authorize(store, user, attrs)
    status: dict = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return {
        **body,
        "kind": "SelfSubjectAccessReview",
        "apiVersion": AUTHZ,
        "metadata": body.get("metadata") or {},
        "status": status,
    }


def rules_review(store: Store, user: User, body: dict) -> dict:
    """Return the SelfSubjectRulesReview ``body`` listing what ``user`` may do."""
    namespace = (body.get("spec") or {}).get("namespace") or ""
    resource_rules, nonresource_rules = rules_for(store, user, namespace)
    return {
        **body,
        "kind": "SelfSubjectRulesReview",
        "apiVersion": AUTHZ,
        "metadata": body.get("metadata") or {},
        "status": {
            "resourceRules": resource_rules,
            "nonResourceRules": nonresource_rules,
            "incomplete": False,
        },
    }


def token_request(store: Store, auth: Authenticator, namespace: str, name: str, body: dict) -> dict:
    """Return a TokenRequest answered with a token for service account ``namespace/name``.

    Raises 404 when the service account does not exist.
    """
    if store.peek("serviceaccounts", name, namespace=namespace) is None:
        raise not_found("serviceaccounts", name)
    spec = dict(body.get("spec") or {})
    seconds = int(spec.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS)
    spec["expirationSeconds"] = seconds
    spec.setdefault("audiences", ["https://kubernetes.default.svc.cluster.local"])
    expires = datetime.now(UTC) + timedelta(seconds=seconds)
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, **(body.get("metadata") or {})},
        "spec": spec,
        "status": {
            "token": auth.service_account_token(namespace, name),
            "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
