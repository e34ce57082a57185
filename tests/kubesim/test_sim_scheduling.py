"""Integration tests of the simulated scheduler through the official Kubernetes client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
from kubernetes import client

from kubesim.server import KubeSim
from tests.helpers import wait_for

T = TypeVar("T")
SPEC = "cpu=2x4c16g,gpu=1x8c32g2gpu:accelerator=a100,infra=1x2c8g:taint=dedicated=infra:NoSchedule"


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    server = KubeSim(port=0, nodes=SPEC, speed=50).start()
    yield server
    server.stop()


@pytest.fixture
def core(sim: KubeSim) -> Iterator[client.CoreV1Api]:
    cfg = client.Configuration()
    cfg.host = sim.url
    cfg.api_key = {"authorization": f"Bearer {sim.token}"}
    with client.ApiClient(cfg) as api:
        yield client.CoreV1Api(api)


def pod(name: str, *, requests: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """Return a long-running pod manifest requesting `requests`."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"kubesim.io/run-forever": "true"}},
        "spec": {
            "containers": [
                {"name": "main", "image": "busybox:1.36", "resources": {"requests": requests or {}}}
            ],
            **spec,
        },
    }


def node_of(core: client.CoreV1Api, name: str) -> str | None:
    return core.read_namespaced_pod(name, "default").spec.node_name


def test_nodes_are_registered_ready(core: client.CoreV1Api) -> None:
    nodes = core.list_node().items
    assert sorted(n.metadata.name for n in nodes) == ["cpu-0", "cpu-1", "gpu-0", "infra-0"]
    gpu = next(n for n in nodes if n.metadata.name == "gpu-0")
    assert gpu.status.allocatable["nvidia.com/gpu"] == "2"
    ready = next(c for c in gpu.status.conditions if c.type == "Ready")
    assert ready.status == "True" and ready.last_heartbeat_time is not None
    infra = next(n for n in nodes if n.metadata.name == "infra-0")
    assert infra.spec.taints[0].key == "dedicated"


def test_scheduled_pod_gets_condition_and_event(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod("web"))
    node = wait_for(lambda: node_of(core, "web"))
    assert node in ("cpu-0", "cpu-1", "gpu-0")  # never the tainted infra node
    status = wait_for(
        lambda: (
            (p := core.read_namespaced_pod("web", "default")).status.phase == "Running" and p.status
        )
    )
    scheduled = next(c for c in status.conditions if c.type == "PodScheduled")
    assert scheduled.status == "True"
    events = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=web,reason=Scheduled"
    ).items
    assert events[0].message == f"Successfully assigned default/web to {node}"
    assert events[0].source.component == "default-scheduler"


def test_node_selector_affinity_and_tolerations(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod("sel", nodeSelector={"accelerator": "a100"}))
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubesim.io/pool", "operator": "In", "values": ["cpu"]},
                            {
                                "key": "kubernetes.io/hostname",
                                "operator": "NotIn",
                                "values": ["cpu-0"],
                            },
                        ]
                    }
                ]
            }
        }
    }
    core.create_namespaced_pod("default", pod("aff", affinity=affinity))
    tolerant = pod(
        "tol",
        nodeSelector={"kubesim.io/pool": "infra"},
        tolerations=[
            {"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}
        ],
    )
    core.create_namespaced_pod("default", tolerant)
    assert wait_for(lambda: node_of(core, "sel")) == "gpu-0"
    assert wait_for(lambda: node_of(core, "aff")) == "cpu-1"
    assert wait_for(lambda: node_of(core, "tol")) == "infra-0"


def test_unschedulable_message_event_and_later_binding(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod("hog", requests={"nvidia.com/gpu": "2"}))
    assert wait_for(lambda: node_of(core, "hog")) == "gpu-0"
    core.create_namespaced_pod("default", pod("waiter", requests={"nvidia.com/gpu": "2"}))
    expected = (
        "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, "
        "3 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: "
        "1 Preemption is not helpful for scheduling, 3 No preemption victims found for "
        "incoming pod."
    )

    def unschedulable() -> Any:
        conds = core.read_namespaced_pod("waiter", "default").status.conditions or []
        return next((c for c in conds if c.type == "PodScheduled" and c.status == "False"), None)

    cond = wait_for(unschedulable)
    assert cond.reason == "Unschedulable"
    assert cond.message == expected
    events = wait_for(
        lambda: (
            core.list_namespaced_event(
                "default", field_selector="involvedObject.name=waiter,reason=FailedScheduling"
            ).items
        )
    )
    assert events[0].type == "Warning" and events[0].message == expected
    # Freeing the GPUs lets the waiting pod in.
    core.delete_namespaced_pod("hog", "default")
    assert wait_for(lambda: node_of(core, "waiter")) == "gpu-0"
    assert (
        len(
            core.list_namespaced_event(
                "default", field_selector="involvedObject.name=waiter,reason=FailedScheduling"
            ).items
        )
        == 1
    )


def test_cordoned_node_and_selector_mismatch_wording(core: client.CoreV1Api) -> None:
    core.patch_node("gpu-0", {"spec": {"unschedulable": True}})
    core.create_namespaced_pod("default", pod("lost", nodeSelector={"accelerator": "a100"}))

    def message() -> str | None:
        conds = core.read_namespaced_pod("lost", "default").status.conditions or []
        return next((c.message for c in conds if c.type == "PodScheduled"), None)

    assert wait_for(message) == (
        "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, "
        "1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    )
    core.patch_node("gpu-0", {"spec": {"unschedulable": False}})
    assert wait_for(lambda: node_of(core, "lost")) == "gpu-0"


def test_pod_count_limit_and_cpu(core: client.CoreV1Api) -> None:
    # 4 cores per cpu node, 8 on gpu-0: three 3-core pods fill one each; a fourth cannot fit.
    for i in range(3):
        core.create_namespaced_pod("default", pod(f"big-{i}", requests={"cpu": "3"}))
    for i in range(3):
        wait_for(lambda i=i: node_of(core, f"big-{i}"))
    core.create_namespaced_pod("default", pod("big-3", requests={"cpu": "6"}))

    def message() -> str | None:
        conds = core.read_namespaced_pod("big-3", "default").status.conditions or []
        return next((c.message for c in conds if c.type == "PodScheduled"), None)

    assert wait_for(message).startswith(
        "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, "
        "3 Insufficient cpu."
    )
