"""Status bodies exactly as the API server writes them, in answers and inside watches."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest

from kubesim.server import KubeSim

CONFLICT = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def _call(sim: KubeSim, method: str, path: str, body: Any = None, token: str | None = None):
    """Return (code, parsed body) of one request."""
    data = orjson.dumps(body) if body is not None else None
    req = urllib.request.Request(
        sim.url + path,
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {token or sim.token}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, orjson.loads(err.read())


def _status(code: int, reason: str, message: str, details: dict) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    }


def _deployment(name: str) -> dict:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


def test_not_found_and_already_exists(bare_kubesim: KubeSim, bare_namespace: str) -> None:
    ns = f"/api/v1/namespaces/{bare_namespace}"
    code, body = _call(bare_kubesim, "GET", f"{ns}/pods/nope")
    assert (code, body) == (
        404,
        _status(404, "NotFound", 'pods "nope" not found', {"name": "nope", "kind": "pods"}),
    )
    apps = f"/apis/apps/v1/namespaces/{bare_namespace}/deployments"
    _, body = _call(bare_kubesim, "GET", f"{apps}/nope")
    assert body["message"] == 'deployments.apps "nope" not found'
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    cm = {"metadata": {"name": "a"}, "data": {}}
    assert _call(bare_kubesim, "POST", f"{ns}/configmaps", cm)[0] == 201
    code, body = _call(bare_kubesim, "POST", f"{ns}/configmaps", cm)
    assert body == _status(
        409, "AlreadyExists", 'configmaps "a" already exists', {"name": "a", "kind": "configmaps"}
    )


def test_conflict_and_invalid(bare_kubesim: KubeSim, bare_namespace: str) -> None:
    apps = f"/apis/apps/v1/namespaces/{bare_namespace}/deployments"
    _, created = _call(bare_kubesim, "POST", apps, _deployment("web"))
    stale = {**created, "metadata": {**created["metadata"], "resourceVersion": "1"}}
    code, body = _call(bare_kubesim, "PUT", f"{apps}/web", stale)
    assert body == _status(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on deployments.apps "web": {CONFLICT}',
        {"name": "web", "group": "apps", "kind": "deployments"},
    )
    code, body = _call(bare_kubesim, "POST", apps, _deployment("Bad_Name"))
    assert code == 422 and body["reason"] == "Invalid" and body["code"] == 422
    assert body["message"].startswith('Deployment.apps "Bad_Name" is invalid: metadata.name: ')
    details = body["details"]
    assert (details["name"], details["group"], details["kind"]) == (
        "Bad_Name",
        "apps",
        "Deployment",
    )
    assert details["causes"][0]["field"] == "metadata.name"
    assert details["causes"][0]["reason"] == "FieldValueInvalid"
    _, body = _call(
        bare_kubesim,
        "POST",
        f"/api/v1/namespaces/{bare_namespace}/pods",
        {
            "metadata": {"name": "Bad_Pod"},
            "spec": {"containers": [{"name": "c", "image": "x"}]},
        },
    )
    assert body["message"].startswith('Pod "Bad_Pod" is invalid: ')
    assert "group" not in body["details"] and body["details"]["kind"] == "Pod"


def test_forbidden(bare_kubesim: KubeSim, bare_namespace: str) -> None:
    bare_kubesim.ensure_service_account(bare_namespace, "nobody")
    token = bare_kubesim.service_account_token(bare_namespace, "nobody")
    user = f"system:serviceaccount:{bare_namespace}:nobody"
    path = f"/api/v1/namespaces/{bare_namespace}/pods/x"
    code, body = _call(bare_kubesim, "GET", path, token=token)
    assert body == _status(
        403,
        "Forbidden",
        f'pods "x" is forbidden: User "{user}" cannot get resource "pods" in API group "" '
        f'in the namespace "{bare_namespace}"',
        {"name": "x", "kind": "pods"},
    )
    path = f"/apis/apps/v1/namespaces/{bare_namespace}/deployments"
    _, body = _call(bare_kubesim, "GET", path, token=token)
    assert body["message"] == (
        f'deployments.apps is forbidden: User "{user}" cannot list resource "deployments" in '
        f'API group "apps" in the namespace "{bare_namespace}"'
    )
    assert body["details"] == {"group": "apps", "kind": "deployments"}


def _watch_until_error(sim: KubeSim, path: str, fault: str) -> tuple[list[dict], dict]:
    """Open a watch, fire ``fault`` once it is open; return (events, the fault's answer)."""
    req = urllib.request.Request(
        sim.url + path + "?watch=1", headers={"Authorization": f"Bearer {sim.token}"}
    )
    events: list[dict] = []
    opened = threading.Event()

    def read() -> None:
        with urllib.request.urlopen(req, timeout=20) as resp:
            opened.set()
            for line in resp:
                events.append(orjson.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert opened.wait(10)
    answer: dict = {}
    for _ in range(50):  # the watch registers just after the response starts
        if sim.stats()["watchers"]:
            answer = _call(sim, "POST", "/kubesim/faults", {fault: True})[1]
            break
        threading.Event().wait(0.05)
    reader.join(20)
    assert not reader.is_alive(), "the watch did not end after the fault"
    return events, answer


@pytest.mark.parametrize(
    ("fault", "done", "code", "reason", "message"),
    [
        (
            "expire_watches",
            "expired_watches",
            410,
            "Expired",
            "The resourceVersion for the provided watch is too old.",
        ),
        (
            "fail_watches",
            "failed_watches",
            500,
            "InternalError",
            'an error on the server ("injected fault") has prevented the request from succeeding',
        ),
    ],
)
def test_errors_inside_watch_streams(
    fresh_kubesim: KubeSim, fault: str, done: str, code: int, reason: str, message: str
) -> None:
    events, answer = _watch_until_error(fresh_kubesim, "/api/v1/namespaces", fault)
    assert answer[done] >= 1
    assert events[-1] == {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        },
    }
    assert all(e["type"] == "ADDED" for e in events[:-1])


def test_too_old_resource_version_inside_the_stream(fresh_kubesim: KubeSim) -> None:
    _call(fresh_kubesim, "POST", "/api/v1/namespaces", {"metadata": {"name": "old-rv"}})
    _call(fresh_kubesim, "POST", "/kubesim/faults", {"compact": True})
    req = urllib.request.Request(
        fresh_kubesim.url + "/api/v1/namespaces?watch=1&resourceVersion=1",
        headers={"Authorization": f"Bearer {fresh_kubesim.token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        lines = [orjson.loads(line) for line in resp]
    assert len(lines) == 1 and lines[0]["type"] == "ERROR"
    status = lines[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith("too old resource version: 1 (")
