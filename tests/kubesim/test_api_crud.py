"""CRUD semantics over HTTP with the official client: errors, patches, selectors, paging."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from kubesim.server import KubeSim


def _status(exc: client.ApiException) -> dict:
    return json.loads(exc.body)


def test_health_and_version(k8s_api_client: client.ApiClient) -> None:
    info = client.VersionApi(k8s_api_client).get_code()
    assert info.git_version.startswith("v1.32")
    groups = client.ApisApi(k8s_api_client).get_api_versions()
    assert "batch" in [g.name for g in groups.groups]
    core = client.CoreV1Api(k8s_api_client).get_api_resources()
    names = {r.name: r for r in core.resources}
    assert "pods/log" in names and names["pods"].short_names == ["po"]


def test_create_get_update_delete(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    cm = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "cfg"}, "data": {"a": "1"}}
    )
    assert cm.metadata.uid and cm.metadata.creation_timestamp
    got = core.read_namespaced_config_map("cfg", namespace)
    assert got.data == {"a": "1"}
    got.data["a"] = "2"
    updated = core.replace_namespaced_config_map("cfg", namespace, got)
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)
    core.delete_namespaced_config_map("cfg", namespace)
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("cfg", namespace)
    assert err.value.status == 404
    assert _status(err.value)["message"] == 'configmaps "cfg" not found'


def test_already_exists_and_conflict(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    first = core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    assert err.value.status == 409 and _status(err.value)["reason"] == "AlreadyExists"
    core.patch_namespaced_config_map("c", namespace, {"data": {"x": "y"}})
    first.data = {"stale": "write"}
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_config_map("c", namespace, first)
    assert err.value.status == 409 and _status(err.value)["reason"] == "Conflict"


def test_invalid_name_and_missing_namespace(k8s_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s_api_client)
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}})
    body = _status(err.value)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert body["details"]["causes"][0]["reason"] == "FieldValueInvalid"
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    assert err.value.status == 404
    with pytest.raises(client.ApiException) as err:
        core.create_namespace({"metadata": {"name": "dots.not.allowed"}})
    assert err.value.status == 422


def test_generate_name(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    a = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "gen-"}})
    b = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "gen-"}})
    assert a.metadata.name.startswith("gen-") and a.metadata.name != b.metadata.name


def test_patch_types(k8s_api_client: client.ApiClient, namespace: str, make_pod) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "p", "labels": {"a": "1"}}, "data": {"k": "v", "drop": "me"}},
    )
    merged = core.patch_namespaced_config_map("p", namespace, {"data": {"drop": None, "new": "n"}})
    assert merged.data == {"k": "v", "new": "n"}
    ops = [
        {"op": "add", "path": "/data/j", "value": "x"},
        {"op": "replace", "path": "/data/k", "value": "w"},
        {"op": "remove", "path": "/data/new"},
        {"op": "test", "path": "/data/j", "value": "x"},
        {"op": "copy", "from": "/data/j", "path": "/data/j2"},
        {"op": "move", "from": "/data/j2", "path": "/data/j3"},
    ]
    patched = core.patch_namespaced_config_map("p", namespace, ops)
    assert patched.data == {"k": "w", "j": "x", "j3": "x"}
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_config_map(
            "p", namespace, [{"op": "test", "path": "/data/k", "value": "nope"}]
        )
    assert err.value.status == 422
    # Strategic merge: containers merge by name, env merges by name.
    pod = make_pod("sm", containers=["a", "b"])
    pod["spec"]["containers"][0]["env"] = [{"name": "X", "value": "1"}]
    core.create_namespaced_pod(namespace, pod)
    k8s_api_client.set_default_header("Content-Type", "application/strategic-merge-patch+json")
    patched_pod = core.patch_namespaced_pod(
        "sm",
        namespace,
        {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}]}},
    )
    containers = {c.name: c for c in patched_pod.spec.containers}
    assert set(containers) == {"a", "b"}
    assert sorted(e.name for e in containers["a"].env) == ["X", "Y"]


def test_strategic_delete_directive(
    k8s_api_client: client.ApiClient, namespace: str, make_pod
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    pod = make_pod("sd")
    pod["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    core.create_namespaced_pod(namespace, pod)
    out = core.patch_namespaced_pod(
        "sd",
        namespace,
        {"spec": {"containers": [{"name": "main", "env": [{"name": "A", "$patch": "delete"}]}]}},
    )
    assert [e.name for e in out.spec.containers[0].env] == ["B"]


def test_label_selectors(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    for name, labels in [
        ("a", {"app": "x", "tier": "web"}),
        ("b", {"app": "y"}),
        ("c", {"app": "z", "tier": "db"}),
        ("d", {}),
    ]:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})

    def names(sel: str) -> list[str]:
        items = core.list_namespaced_config_map(namespace, label_selector=sel).items
        return sorted(i.metadata.name for i in items)

    assert names("app=x") == ["a"]
    assert names("app==y") == ["b"]
    assert names("app!=x") == ["b", "c", "d"]
    assert names("app in (x,z)") == ["a", "c"]
    assert names("app notin (x,z)") == ["b", "d"]
    assert names("tier") == ["a", "c"]
    assert names("!tier") == ["b", "d"]
    assert names("app,tier=db") == ["c"]


def test_field_selectors(k8s_api_client: client.ApiClient, namespace: str, make_pod) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_pod(namespace, make_pod("f1"))
    core.create_namespaced_pod(namespace, make_pod("f2"))
    got = core.list_pod_for_all_namespaces(
        field_selector=f"metadata.name=f1,metadata.namespace={namespace}"
    )
    assert [p.metadata.name for p in got.items] == ["f1"]
    got = core.list_namespaced_pod(namespace, field_selector="metadata.name!=f1")
    assert [p.metadata.name for p in got.items] == ["f2"]
    with pytest.raises(client.ApiException) as err:
        core.list_namespaced_pod(namespace, field_selector="spec.bogus=1")
    assert err.value.status == 400 and "spec.bogus" in _status(err.value)["message"]


def test_limit_and_continue(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    for i in range(7):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{i}"}})
    seen, token = [], None
    while True:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        seen += [i.metadata.name for i in page.items]
        if page.metadata._continue is None:
            break
        token = page.metadata._continue
        # A change between pages must not duplicate or drop unchanged objects.
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"a{len(seen)}"}})
    assert [s for s in seen if s.startswith("c")] == [f"c{i}" for i in range(7)]
    assert len(seen) == len(set(seen))
    with pytest.raises(client.ApiException) as err:
        core.list_namespaced_config_map(namespace, limit=3, _continue="garbage!")
    assert err.value.status == 410


def test_unauthorized_without_token(kubesim_server: KubeSim) -> None:
    cfg = client.Configuration()
    cfg.host = kubesim_server.url
    with client.ApiClient(cfg) as api, pytest.raises(client.ApiException) as err:
        client.CoreV1Api(api).list_namespace()
    assert err.value.status == 401 and _status(err.value)["reason"] == "Unauthorized"


def test_status_subresource(k8s_api_client: client.ApiClient, namespace: str) -> None:
    batch = client.BatchV1Api(k8s_api_client)
    job = {
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "c", "image": "x"}], "restartPolicy": "Never"}
            }
        },
    }
    created = batch.create_namespaced_job(namespace, job)
    assert created.metadata.generation == 1
    batch.patch_namespaced_job("j", namespace, {"status": {"active": 42}})
    assert (batch.read_namespaced_job_status("j", namespace).status.active or 0) != 42
    out = batch.patch_namespaced_job_status("j", namespace, {"status": {"succeeded": 7}})
    assert out.status.succeeded == 7 and out.metadata.generation == 1
    out = batch.patch_namespaced_job("j", namespace, {"spec": {"parallelism": 3}})
    assert out.metadata.generation == 2
