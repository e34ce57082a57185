"""Watch semantics: initial state, resume, 410 Gone, bookmarks, timeouts, selectors."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, watch

from kubesim.server import KubeSim


def _events(func, *args, **kwargs) -> list[tuple[str, str]]:
    w = watch.Watch()
    out = []
    for ev in w.stream(func, *args, **kwargs):
        obj = ev["object"]
        name = obj.metadata.name if hasattr(obj, "metadata") else obj["metadata"].get("name")
        out.append((ev["type"], name))
    return out


def test_watch_lists_then_streams(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}})
    w = watch.Watch()
    seen: list[tuple[str, str]] = []

    def changer() -> None:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "after"}})
        core.patch_namespaced_config_map("after", namespace, {"data": {"a": "b"}})
        core.delete_namespaced_config_map("after", namespace)

    for ev in w.stream(core.list_namespaced_config_map, namespace, timeout_seconds=5):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 1:
            threading.Thread(target=changer).start()
        if len(seen) == 4:
            w.stop()
    assert seen == [
        ("ADDED", "before"),
        ("ADDED", "after"),
        ("MODIFIED", "after"),
        ("DELETED", "after"),
    ]


def test_resume_from_resource_version(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    listing = core.list_namespaced_config_map(namespace)
    rv = listing.metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "x1"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "x2"}})
    got = _events(
        core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=1
    )
    assert got == [("ADDED", "x1"), ("ADDED", "x2")]


def test_selector_transitions(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "s", "labels": {"pick": "no"}}}
    )
    core.patch_namespaced_config_map("s", namespace, {"metadata": {"labels": {"pick": "yes"}}})
    core.patch_namespaced_config_map("s", namespace, {"data": {"k": "v"}})
    core.patch_namespaced_config_map("s", namespace, {"metadata": {"labels": {"pick": "no"}}})
    got = _events(
        core.list_namespaced_config_map,
        namespace,
        label_selector="pick=yes",
        resource_version=rv,
        timeout_seconds=1,
    )
    assert got == [("ADDED", "s"), ("MODIFIED", "s"), ("DELETED", "s")]


def test_timeout_seconds_ends_stream(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    assert _events(core.list_namespaced_config_map, namespace, timeout_seconds=1) == []


def test_bookmarks(k8s_api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_api_client)
    w = watch.Watch()
    kinds = []
    for ev in w.stream(
        core.list_namespaced_config_map, namespace, allow_watch_bookmarks=True, timeout_seconds=3
    ):
        kinds.append(ev["type"])
        if ev["type"] == "BOOKMARK":
            assert int(ev["raw_object"]["metadata"]["resourceVersion"]) > 0
            w.stop()
    assert "BOOKMARK" in kinds


def test_too_old_resource_version_gives_410(fresh_kubesim: KubeSim, client_for) -> None:
    api = client_for(fresh_kubesim)
    core = client.CoreV1Api(api)
    old_rv = core.list_namespaced_config_map("default").metadata.resource_version
    # history_size is 200 for this sim: push the old version out of the window.
    for i in range(250):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
    w = watch.Watch()
    with pytest.raises(client.ApiException) as err:
        for _ in w.stream(
            core.list_namespaced_config_map, "default", resource_version=old_rv, timeout_seconds=2
        ):
            pass
    assert err.value.status == 410
    with pytest.raises(client.ApiException) as err:
        core.list_namespaced_config_map(
            "default", resource_version=old_rv, resource_version_match="Exact"
        )
    assert err.value.status == 410
    # Recovery: a fresh list gives a resourceVersion that can be watched from.
    fresh = core.list_namespaced_config_map("default")
    assert len(fresh.items) == 250
    assert (
        _events(
            core.list_namespaced_config_map,
            "default",
            resource_version=fresh.metadata.resource_version,
            timeout_seconds=1,
        )
        == []
    )
    api.close()


def test_watch_all_namespaces_and_cluster_scope(
    k8s_api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    rv = core.list_namespace().metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "anywhere"}})
    got = _events(core.list_config_map_for_all_namespaces, resource_version=rv, timeout_seconds=1)
    assert ("ADDED", "anywhere") in got
