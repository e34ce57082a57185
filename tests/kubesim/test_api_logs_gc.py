"""Pod logs (tail, since, timestamps, follow, previous) and garbage collection."""

from __future__ import annotations

import json
import threading
import time

import pytest
from kubernetes import client

from kubesim.server import KubeSim


def _running(sim: KubeSim, ns: str, name: str, containers: list[str]) -> None:
    statuses = [
        {
            "name": c,
            "ready": True,
            "restartCount": 0,
            "image": "busybox",
            "imageID": "",
            "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}},
        }
        for c in containers
    ]
    sim.call(
        lambda: sim.store.patch(
            "pods",
            name,
            {"status": {"phase": "Running", "containerStatuses": statuses}},
            namespace=ns,
            subresource="status",
        )
    )


def _log(core: client.CoreV1Api, name: str, ns: str, **kwargs) -> str:
    # The generated client returns str(bytes) for text bodies; read the raw body instead.
    resp = core.read_namespaced_pod_log(name, ns, _preload_content=False, **kwargs)
    return resp.data.decode()


def test_logs_tail_timestamps_previous(
    bare_kubesim: KubeSim, bare_api_client: client.ApiClient, bare_namespace: str, make_pod
) -> None:
    core = client.CoreV1Api(bare_api_client)
    ns = bare_namespace
    core.create_namespaced_pod(ns, make_pod("lp"))
    with pytest.raises(client.ApiException) as err:
        _log(core, "lp", ns)
    assert json.loads(err.value.body)["message"] == (
        'container "main" in pod "lp" is waiting to start: ContainerCreating'
    )
    _running(bare_kubesim, ns, "lp", ["main"])
    for i in range(5):
        bare_kubesim.call(bare_kubesim.store.logs.write, ns, "lp", "main", f"line {i}")
    assert _log(core, "lp", ns) == "".join(f"line {i}\n" for i in range(5))
    assert _log(core, "lp", ns, tail_lines=2) == "line 3\nline 4\n"
    assert _log(core, "lp", ns, since_seconds=60).count("\n") == 5
    assert _log(core, "lp", ns, limit_bytes=4) == "line"
    stamped = _log(core, "lp", ns, timestamps=True, tail_lines=1)
    stamp, text = stamped.rstrip("\n").split(" ", 1)
    assert text == "line 4" and stamp.endswith("Z") and len(stamp.split(".")[1]) == 10
    with pytest.raises(client.ApiException) as err:
        _log(core, "lp", ns, previous=True)
    assert json.loads(err.value.body)["message"] == (
        'previous terminated container "main" in pod "lp" not found'
    )
    bare_kubesim.call(bare_kubesim.store.logs.restart, ns, "lp", "main")
    bare_kubesim.call(bare_kubesim.store.logs.write, ns, "lp", "main", "second run")
    assert _log(core, "lp", ns, previous=True).startswith("line 0\n")
    assert _log(core, "lp", ns) == "second run\n"


def test_logs_need_container_name(
    bare_kubesim: KubeSim, bare_api_client: client.ApiClient, bare_namespace: str, make_pod
) -> None:
    core = client.CoreV1Api(bare_api_client)
    core.create_namespaced_pod(bare_namespace, make_pod("two", containers=["a", "b"]))
    _running(bare_kubesim, bare_namespace, "two", ["a", "b"])
    with pytest.raises(client.ApiException) as err:
        _log(core, "two", bare_namespace)
    assert json.loads(err.value.body)["message"] == (
        "a container name must be specified for pod two, choose one of: [a b]"
    )
    bare_kubesim.call(bare_kubesim.store.logs.write, bare_namespace, "two", "b", "from b")
    assert _log(core, "two", bare_namespace, container="b") == "from b\n"


def test_logs_follow(
    bare_kubesim: KubeSim, bare_api_client: client.ApiClient, bare_namespace: str, make_pod
) -> None:
    core = client.CoreV1Api(bare_api_client)
    ns = bare_namespace
    core.create_namespaced_pod(ns, make_pod("fw"))
    _running(bare_kubesim, ns, "fw", ["main"])
    bare_kubesim.call(bare_kubesim.store.logs.write, ns, "fw", "main", "first")

    def produce() -> None:
        for i in range(3):
            time.sleep(0.05)
            bare_kubesim.call(bare_kubesim.store.logs.write, ns, "fw", "main", f"more {i}")
        bare_kubesim.call(bare_kubesim.store.logs.close, ns, "fw", "main")

    threading.Thread(target=produce).start()
    resp = core.read_namespaced_pod_log("fw", ns, follow=True, _preload_content=False)
    text = b"".join(resp.stream()).decode()
    assert text == "first\nmore 0\nmore 1\nmore 2\n"


def test_owner_reference_gc(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    child = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "child", "ownerReferences": [ref]}}
    )
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {
                "name": "grandchild",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "child",
                        "uid": child.metadata.uid,
                    }
                ],
            }
        },
    )
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Foreground")
    assert core.list_namespaced_config_map(namespace).items == []
    assert core.list_namespaced_secret(namespace).items == []


def test_orphan_strips_owner_references(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "o"}})
    core.create_namespaced_config_map(
        namespace,
        {
            "metadata": {
                "name": "kept",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "o",
                        "uid": owner.metadata.uid,
                    }
                ],
            }
        },
    )
    core.delete_namespaced_config_map(
        "o", namespace, body=client.V1DeleteOptions(propagation_policy="Orphan")
    )
    kept = core.read_namespaced_config_map("kept", namespace)
    assert not kept.metadata.owner_references


def test_namespace_deletion_removes_contents(k8s_api_client: client.ApiClient, make_pod) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "c"}})
    core.delete_namespace("doomed")
    with pytest.raises(client.ApiException) as err:
        core.read_namespace("doomed")
    assert err.value.status == 404
    assert not [
        c
        for c in core.list_config_map_for_all_namespaces().items
        if c.metadata.namespace == "doomed"
    ]
