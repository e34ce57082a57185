"""ResourceQuota admission and status bookkeeping."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from kubesim.server import KubeSim


def _quota(api: client.ApiClient, namespace: str, hard: dict) -> None:
    client.CoreV1Api(api).create_namespaced_resource_quota(
        namespace, {"metadata": {"name": "compute"}, "spec": {"hard": hard}}
    )


def test_quota_refuses_with_kubernetes_wording(
    bare_api_client: client.ApiClient, bare_namespace: str, make_pod
) -> None:
    core = client.CoreV1Api(bare_api_client)
    _quota(
        bare_api_client, bare_namespace, {"limits.cpu": "4", "requests.memory": "2Gi", "pods": "10"}
    )
    res = {"limits": {"cpu": "2", "memory": "1Gi"}}
    core.create_namespaced_pod(bare_namespace, make_pod("p1", resources=res))
    big = {"limits": {"cpu": "4", "memory": "512Mi"}}
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod(bare_namespace, make_pod("p2", resources=big))
    body = json.loads(err.value.body)
    assert err.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'pods "p2" is forbidden: exceeded quota: compute, requested: '
        "limits.cpu=4, used: limits.cpu=2, limited: limits.cpu=4"
    )
    quota = core.read_namespaced_resource_quota("compute", bare_namespace)
    assert quota.status.used == {"limits.cpu": "2", "requests.memory": "1Gi", "pods": "1"}
    assert quota.status.hard["limits.cpu"] == "4"


def test_quota_requires_tracked_resources(
    bare_api_client: client.ApiClient, bare_namespace: str, make_pod
) -> None:
    core = client.CoreV1Api(bare_api_client)
    _quota(bare_api_client, bare_namespace, {"limits.cpu": "4"})
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod(bare_namespace, make_pod("naked"))
    assert err.value.status == 403
    assert "must specify limits.cpu for: main" in json.loads(err.value.body)["message"]


def test_quota_usage_follows_pod_lifecycle(
    bare_kubesim: KubeSim, bare_api_client: client.ApiClient, bare_namespace: str, make_pod
) -> None:
    core = client.CoreV1Api(bare_api_client)
    _quota(bare_api_client, bare_namespace, {"requests.nvidia.com/gpu": "2", "count/pods": "2"})
    gpu = {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}
    core.create_namespaced_pod(bare_namespace, make_pod("g1", resources=gpu))
    core.create_namespaced_pod(bare_namespace, make_pod("g2", resources=gpu))
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod(bare_namespace, make_pod("g3", resources=gpu))
    assert "requests.nvidia.com/gpu=1" in json.loads(err.value.body)["message"]
    # A finished pod stops counting; a deleted one too.
    core.patch_namespaced_pod_status("g1", bare_namespace, {"status": {"phase": "Succeeded"}})
    used = core.read_namespaced_resource_quota("compute", bare_namespace).status.used
    assert used == {"requests.nvidia.com/gpu": "1", "count/pods": "1"}
    core.create_namespaced_pod(bare_namespace, make_pod("g3", resources=gpu))
    core.delete_namespaced_pod("g2", bare_namespace)
    core.delete_namespaced_pod("g3", bare_namespace)
    used = core.read_namespaced_resource_quota("compute", bare_namespace).status.used
    assert used == {"requests.nvidia.com/gpu": "0", "count/pods": "0"}
