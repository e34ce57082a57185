"""Unit tests for kubesim.sim's pure logic: node spec, quantities, predicates, messages."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from kubesim.sim.deployments import resolve_percent, template_hash
from kubesim.sim.jobs import format_indexes
from kubesim.sim.nodespec import DEFAULT_SPEC, build_nodes, parse_node_spec
from kubesim.sim.predicates import (
    AFFINITY,
    fit_error_message,
    matches_node_selector,
    resource_failures,
    static_failure,
    toleration_matches,
)
from kubesim.sim.resources import parse_quantity, pod_requests, qos_class
from kubesim.sim.script import resolve


def test_default_spec_has_cpu_and_gpu_pools() -> None:
    pools = parse_node_spec(None)
    assert [(p.name, p.count, p.cpu, p.memory_gib, p.gpus) for p in pools] == [
        ("cpu", 3, 8, 32, 0),
        ("gpu", 2, 16, 64, 4),
    ]
    assert pools[1].labels == {"accelerator": "nvidia-a100"}
    assert pools[1].taints == ()
    assert parse_node_spec(DEFAULT_SPEC) == pools


def test_spec_with_labels_and_taints() -> None:
    (pool,) = parse_node_spec(
        "gpu=2x16c64g4gpu:accelerator=a100;zone=eu-1:taint=nvidia.com/gpu=present:NoSchedule"
        ":taint=spot:NoExecute"
    )
    assert pool.labels == {"accelerator": "a100", "zone": "eu-1"}
    assert [t.to_api() for t in pool.taints] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        {"key": "spot", "effect": "NoExecute"},
    ]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "empty"),
        ("cpu=3x8c", "'cpu=3x8c'"),
        ("cpu", "'cpu'"),
        ("Cpu=1x1c1g", "DNS label"),
        ("cpu=0x8c32g", "at least 1"),
        ("cpu=1x8c32g,cpu=1x8c32g", "duplicate"),
        ("cpu=1x8c32g:taint=a=b:Sometimes", "effect"),
        ("cpu=1x8c32g:taint=a=b", "needs :<Effect>"),
        ("cpu=1x8c32g:novalue", "key=value"),
        ("cpu=1x8c32g:bad key=1", "invalid label key"),
        ("cpu=1x8c32g,", "empty pool"),
    ],
)
def test_bad_specs_name_the_part(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="node spec") as info:
        parse_node_spec(spec)
    assert fragment in str(info.value)


def test_build_nodes_labels_capacity_and_addresses() -> None:
    nodes = build_nodes(parse_node_spec("cpu=2x8c32g,gpu=1x16c64g4gpu:accelerator=a100"))
    assert [n["metadata"]["name"] for n in nodes] == ["cpu-0", "cpu-1", "gpu-0"]
    gpu = nodes[2]
    labels = gpu["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "gpu-0"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubesim.io/pool"] == "gpu"
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["accelerator"] == "a100"
    assert labels["node.kubernetes.io/instance-type"] == "kubesim-16c64g4gpu"
    assert gpu["status"]["capacity"] == gpu["status"]["allocatable"]
    assert gpu["status"]["capacity"]["nvidia.com/gpu"] == "4"
    assert gpu["status"]["capacity"]["pods"] == "110"
    assert "nvidia.com/gpu" not in nodes[0]["status"]["capacity"]
    assert gpu["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0-kubesim"
    ips = {n["status"]["addresses"][0]["address"] for n in nodes}
    assert len(ips) == 3


def test_quantities() -> None:
    assert parse_quantity("500m", milli=True) == 500
    assert parse_quantity("2", milli=True) == 2000
    assert parse_quantity("0.5", milli=True) == 500
    assert parse_quantity("1Gi") == 2**30
    assert parse_quantity("1G") == 10**9
    assert parse_quantity("1e3") == 1000
    assert parse_quantity(4) == 4
    with pytest.raises(ValueError):
        parse_quantity("lots")


def test_pod_requests_and_qos() -> None:
    pod = {
        "spec": {
            "initContainers": [{"resources": {"requests": {"cpu": "3"}}}],
            "containers": [
                {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                {"resources": {"limits": {"cpu": "500m", "nvidia.com/gpu": "1"}}},
            ],
        }
    }
    assert pod_requests(pod) == {"cpu": 3000, "memory": 2**30, "nvidia.com/gpu": 1, "pods": 1}
    assert qos_class(pod) == "Burstable"
    assert qos_class({"spec": {"containers": [{}]}}) == "BestEffort"
    limits = {"cpu": "1", "memory": "1Gi"}
    guaranteed = {"spec": {"containers": [{"resources": {"limits": limits}}]}}
    assert qos_class(guaranteed) == "Guaranteed"


def test_tolerations() -> None:
    taint = {"key": "gpu", "value": "yes", "effect": "NoSchedule"}
    assert toleration_matches({"key": "gpu", "operator": "Equal", "value": "yes"}, taint)
    assert toleration_matches({"key": "gpu", "operator": "Exists"}, taint)
    assert toleration_matches({"operator": "Exists"}, taint)
    assert not toleration_matches({"key": "gpu", "value": "no"}, taint)
    assert not toleration_matches(
        {"key": "gpu", "operator": "Exists", "effect": "NoExecute"}, taint
    )


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ({"key": "zone", "operator": "In", "values": ["a", "b"]}, True),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, False),
        ({"key": "missing", "operator": "NotIn", "values": ["a"]}, True),
        ({"key": "zone", "operator": "Exists"}, True),
        ({"key": "zone", "operator": "DoesNotExist"}, False),
        ({"key": "gpus", "operator": "Gt", "values": ["3"]}, True),
        ({"key": "gpus", "operator": "Lt", "values": ["3"]}, False),
        ({"key": "zone", "operator": "Gt", "values": ["3"]}, False),
    ],
)
def test_node_affinity_operators(expr: dict, expected: bool) -> None:
    spec = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [expr]}]
                }
            }
        }
    }
    assert matches_node_selector(spec, {"zone": "a", "gpus": "4"}, "n") is expected


def test_static_failure_order() -> None:
    spec = {"nodeSelector": {"pool": "x"}}
    taints = [{"key": "k", "value": "v", "effect": "NoSchedule"}]
    assert static_failure(spec, {}, taints, True, "n") == "node(s) were unschedulable"
    assert static_failure(spec, {}, taints, False, "n") == "node(s) had untolerated taint {k: v}"
    assert static_failure(spec, {}, [], False, "n") == AFFINITY
    assert static_failure(spec, {"pool": "x"}, [], False, "n") is None
    prefer = [{"key": "k", "effect": "PreferNoSchedule"}]
    assert static_failure({}, {}, prefer, False, "n") is None


def test_resource_failures() -> None:
    alloc = {"cpu": 4000, "memory": 8, "nvidia.com/gpu": 0, "pods": 2}
    used = {"cpu": 3500, "memory": 0, "pods": 2}
    assert resource_failures({"cpu": 1000, "nvidia.com/gpu": 1, "pods": 1}, alloc, used) == [
        "Too many pods",
        "Insufficient cpu",
        "Insufficient nvidia.com/gpu",
    ]
    assert resource_failures({"cpu": 100, "pods": 1}, alloc, {"pods": 0}) == []


def test_fit_error_message_matches_kubernetes_wording() -> None:
    reasons = Counter({"Insufficient nvidia.com/gpu": 2, AFFINITY: 3})
    assert fit_error_message(5, reasons, 3) == (
        "0/5 nodes are available: 2 Insufficient nvidia.com/gpu, 3 node(s) didn't match "
        "Pod's node affinity/selector. preemption: 0/5 nodes are available: 2 No preemption "
        "victims found for incoming pod, 3 Preemption is not helpful for scheduling."
    )
    only_affinity = fit_error_message(4, Counter({AFFINITY: 4}), 4)
    assert only_affinity.endswith(
        "0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    )


def test_behaviour_env_wins_over_annotation() -> None:
    pod = {
        "metadata": {
            "annotations": {
                "kubesim.io/duration": "7",
                "kubesim.io/exit-code": "3",
                "kubesim.io/log-lines": "a\nb",
            }
        }
    }
    container = {
        "image": "x",
        "env": [
            {"name": "KUBESIM_EXIT_CODE", "value": "0"},
            {"name": "KUBESIM_OOM", "value": "true"},
        ],
    }
    b = resolve(pod, container, owned_by_rs=False)
    assert (b.duration, b.exit_code, b.oom, b.log_lines) == (7.0, 0, True, ("a", "b"))
    assert not b.run_forever
    assert resolve({}, {"image": "x"}, owned_by_rs=True).run_forever
    assert resolve({}, {"image": "repo/does-not-exist:1"}, owned_by_rs=False).pull_error
    crash = resolve(
        {"metadata": {"annotations": {"kubesim.io/crash-loop": "true"}}}, {}, owned_by_rs=True
    )
    assert crash.exit_code == 1 and not crash.run_forever


def test_small_helpers() -> None:
    assert format_indexes({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7"
    assert format_indexes(set()) == ""
    assert resolve_percent("25%", 10, round_up=True) == 3
    assert resolve_percent("25%", 10, round_up=False) == 2
    assert resolve_percent(None, 4, round_up=True) == 1
    assert resolve_percent(2, 4, round_up=True) == 2
    t = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"image": "a"}]}}
    assert template_hash(t) == template_hash(t)
    assert template_hash(t) != template_hash({**t, "spec": {"containers": [{"image": "b"}]}})


def test_a_kubesim_process_runs_full_collections_rarely():
    """``python -m kubesim`` (and the benchmark's kubesim process) collect the oldest
    generation a hundred times less often than CPython's default: full collections over
    the store stopped the server for up to 190 ms every 12 s under load."""
    probe = (
        "import gc; before = gc.get_threshold()[2]\n"
        "from kubesim.server import quiet_collector\n"
        "quiet_collector(); print(before, gc.get_threshold()[2])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["10", "1000"]
