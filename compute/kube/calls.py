"""Requests to a cluster: every one with a time-out, every failure a ``ClusterError``.

``call`` wraps a typed client method; ``raw_json`` decodes its answer as plain JSON (much
faster than the client's models for big lists); ``list_all`` follows a list's pages. The
generic functions (``create``, ``apply``, ``get``, ``patch``, ``delete``, ``list_objects``)
work on objects of any kind through their apiVersion and kind, mapped to the REST path.
"""

from collections.abc import Callable, Iterable
from urllib.parse import quote

import orjson

from compute.kube.client import request_timeout
from compute.kube.errors import ClusterError, ErrorKind, translate

# Items per page when a list is followed page by page.
LIST_PAGE = 500

# The plural (REST) names of the kinds the portal handles whose plural is not simply the
# lower-case kind with an "s"; and the kinds that live outside namespaces.
PLURALS = {
    "Endpoints": "endpoints",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "Ingress": "ingresses",
    "NetworkPolicy": "networkpolicies",
    "PriorityClass": "priorityclasses",
}
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "InstanceType",
        "ClusterQueue",
        "ResourceFlavor",
    }
)
MERGE_PATCH = "application/merge-patch+json"


def call(doing: str, fn: Callable, *args, **kwargs):
    """Calls the client method ``fn`` with a request time-out (unless one is given);
    ``doing`` ("creating job x") goes into the error message when it fails."""
    kwargs.setdefault("_request_timeout", request_timeout())
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - translated into a ClusterError
        raise translate(exc, doing) from exc


def raw_json(doing: str, fn: Callable, *args, **kwargs) -> dict:
    """Calls a typed client method but decodes the body as plain JSON."""
    response = call(doing, fn, *args, _preload_content=False, **kwargs)
    try:
        return orjson.loads(response.data)
    finally:
        response.release_conn()


def _paged(fetch: Callable[[dict], dict]) -> list[dict]:
    items: list[dict] = []
    token = None
    while True:
        page = fetch({"limit": LIST_PAGE, **({"_continue": token} if token else {})})
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


def list_all(doing: str, list_fn: Callable, *args, **kwargs) -> list[dict]:
    """Every item of a typed list method (``list_namespaced_pod``...), page by page."""
    return _paged(lambda paging: raw_json(doing, list_fn, *args, **kwargs, **paging))


# ---- objects of any kind ------------------------------------------------------------------


def rest_path(
    api_version: str, kind: str, *, namespace: str | None = None, name: str | None = None
) -> str:
    """The REST path of a collection (``name`` None) or of one object."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    plural = PLURALS.get(kind) or kind.lower() + "s"
    if namespace and kind not in CLUSTER_SCOPED:
        base = f"{base}/namespaces/{quote(namespace, safe='')}"
    path = f"{base}/{plural}"
    return f"{path}/{quote(name, safe='')}" if name else path


def request(
    api,
    doing: str,
    method: str,
    path: str,
    *,
    body=None,
    query: Iterable[tuple[str, str]] = (),
    content_type: str | None = None,
    accept: str = "application/json",
    **kwargs,
):
    """One request through the client's generic path; returns the decoded JSON answer
    (text when ``accept`` is not JSON)."""
    headers = {"Accept": accept}
    if content_type:
        headers["Content-Type"] = content_type
    response = call(
        doing,
        api.call_api,
        path,
        method,
        query_params=list(query),
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
        _preload_content=False,
        **kwargs,
    )
    try:
        if accept != "application/json":
            return response.data.decode(errors="replace")
        return orjson.loads(response.data) if response.data else {}
    finally:
        response.release_conn()


def stream(api, doing: str, path: str, *, query: Iterable[tuple[str, str]], read_timeout: float):
    """Opens a GET whose body is read as it comes (a watch); the caller releases it."""
    connect, _ = request_timeout()
    return call(
        doing,
        api.call_api,
        path,
        "GET",
        query_params=list(query),
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
        _request_timeout=(connect, read_timeout),
    )


def _where(kind: str, name: str, namespace: str | None) -> str:
    return f"{kind} {name}" + (
        f" in {namespace}" if namespace and kind not in CLUSTER_SCOPED else ""
    )


def get(api, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> dict:
    """Reads one object (ClusterError ``not_found`` when it does not exist)."""
    return request(
        api,
        f"reading {_where(kind, name, namespace)}",
        "GET",
        rest_path(api_version, kind, namespace=namespace, name=name),
    )


def create(
    api,
    obj: dict,
    *,
    namespace: str | None = None,
    replace: bool = False,
    doing: str | None = None,
) -> tuple[dict, bool]:
    """Creates ``obj``; returns (the object in the cluster, True when this call created it).

    When it already exists the existing object is read and returned (``replace``: it is
    replaced by ``obj`` first), so creating twice is safe.
    """
    api_version, kind, name = obj["apiVersion"], obj["kind"], obj["metadata"]["name"]
    namespace = namespace or obj["metadata"].get("namespace")
    where = _where(kind, name, namespace)
    try:
        created = request(
            api,
            doing or f"creating {where}",
            "POST",
            rest_path(api_version, kind, namespace=namespace),
            body=obj,
        )
        return created, True
    except ClusterError as err:
        if err.kind != ErrorKind.CONFLICT:
            raise
    current = request(
        api,
        doing or f"reading {where}",
        "GET",
        rest_path(api_version, kind, namespace=namespace, name=name),
    )
    if not replace:
        return current, False
    version = current["metadata"]["resourceVersion"]
    body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}
    path = rest_path(api_version, kind, namespace=namespace, name=name)
    return request(api, doing or f"updating {where}", "PUT", path, body=body), False


def apply(
    api,
    objects: Iterable[dict],
    *,
    namespace: str | None = None,
    replace: bool = False,
    doing: str | None = None,
) -> list[dict]:
    """Creates ``objects`` in order (see ``create``: existing ones are kept, or replaced with
    ``replace``); returns them as they are in the cluster. Safe to retry."""
    return [
        create(api, obj, namespace=namespace, replace=replace, doing=doing)[0] for obj in objects
    ]


def patch(
    api,
    api_version: str,
    kind: str,
    name: str,
    changes: dict,
    *,
    namespace: str | None = None,
    doing: str | None = None,
) -> dict:
    """Applies a JSON merge patch to one object; returns the object."""
    return request(
        api,
        doing or f"changing {_where(kind, name, namespace)}",
        "PATCH",
        rest_path(api_version, kind, namespace=namespace, name=name),
        body=changes,
        content_type=MERGE_PATCH,
    )


def delete(
    api,
    api_version: str,
    kind: str,
    name: str,
    *,
    namespace: str | None = None,
    propagation: str | None = None,
    doing: str | None = None,
) -> bool:
    """Deletes one object; returns False when it did not exist."""
    body = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if propagation:
        body["propagationPolicy"] = propagation
    try:
        request(
            api,
            doing or f"deleting {_where(kind, name, namespace)}",
            "DELETE",
            rest_path(api_version, kind, namespace=namespace, name=name),
            body=body,
        )
    except ClusterError as err:
        if err.kind != ErrorKind.NOT_FOUND:
            raise
        return False
    return True


def list_objects(
    api,
    api_version: str,
    kind: str,
    *,
    namespace: str | None = None,
    label_selector: str = "",
    field_selector: str = "",
    doing: str | None = None,
) -> list[dict]:
    """Every object of a kind (in ``namespace``, or everywhere), page by page."""
    path = rest_path(api_version, kind, namespace=namespace)
    doing = doing or f"listing {kind}s" + (f" in {namespace}" if namespace else "")
    base = [("labelSelector", label_selector)] if label_selector else []
    if field_selector:
        base.append(("fieldSelector", field_selector))

    def fetch(paging: dict) -> dict:
        query = [*base, ("limit", str(paging["limit"]))]
        if "_continue" in paging:
            query.append(("continue", paging["_continue"]))
        return request(api, doing, "GET", path, query=query)

    return _paged(fetch)
