"""Parse the simulated cluster's node spec and build Node objects from it.

Grammar (whitespace around separators is ignored)::

    spec     := pool ( "," pool )*
    pool     := NAME "=" COUNT "x" SHAPE ( ":" section )*
    SHAPE    := CPUS "c" MEM "g" [ GPUS "gpu" ]          e.g. 8c32g, 16c64g4gpu
    section  := labels | taint
    labels   := KEY "=" VALUE ( ";" KEY "=" VALUE )*      e.g. accelerator=a100;zone=a
    taint    := "taint=" KEY [ "=" VALUE ] ":" EFFECT      EFFECT: NoSchedule |
                                                           PreferNoSchedule | NoExecute

NAME is a DNS label (it prefixes node names: ``<pool>-<i>``), COUNT >= 1, CPUS and MEM are
whole cores and GiB, GPUS whole devices (``nvidia.com/gpu``).  Several ``:taint=`` sections
may follow one pool.  Example::

    cpu=3x8c32g,gpu=2x16c64g4gpu:accelerator=nvidia-a100:taint=nvidia.com/gpu=present:NoSchedule

Bad specs raise ValueError naming the offending part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SPEC = "cpu=3x8c32g,gpu=2x16c64g4gpu:accelerator=nvidia-a100"
KUBELET_VERSION = "v1.32.0-kubesim"
MAX_PODS = 110
MAX_NODES = 100_000

_POOL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$")
_SHAPE = re.compile(r"^(\d+)x(\d+)c(\d+)g(?:(\d+)gpu)?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True)
class Taint:
    """A node taint: key, optional value, effect."""

    key: str
    value: str
    effect: str

    def to_api(self) -> dict[str, str]:
        """Return the taint in Kubernetes JSON shape (value omitted when empty)."""
        out = {"key": self.key, "effect": self.effect}
        if self.value:
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class Pool:
    """One node pool of identical nodes."""

    name: str
    count: int
    cpu: int
    memory_gib: int
    gpus: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()

    @property
    def instance_type(self) -> str:
        """Return the instance-type label value, e.g. ``kubesim-16c64g4gpu``."""
        gpu = f"{self.gpus}gpu" if self.gpus else ""
        return f"kubesim-{self.cpu}c{self.memory_gib}g{gpu}"


def _check_label_key(key: str, where: str) -> None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _LABEL_PREFIX.match(prefix)):
        raise ValueError(f"node spec {where}: invalid label key prefix {prefix!r}")
    if not _LABEL_NAME.match(name):
        raise ValueError(f"node spec {where}: invalid label key {key!r}")


def _check_label_value(value: str, where: str) -> None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(f"node spec {where}: invalid label value {value!r}")


def _parse_taint(body: str, effect: str, where: str) -> Taint:
    key, _, value = body.partition("=")
    if not key:
        raise ValueError(f"node spec {where}: taint needs a key")
    _check_label_key(key, where)
    _check_label_value(value, where)
    if effect not in EFFECTS:
        raise ValueError(
            f"node spec {where}: taint effect must be one of {', '.join(EFFECTS)}, got {effect!r}"
        )
    return Taint(key, value, effect)


def _parse_pool(part: str) -> Pool:
    where = repr(part)
    name, eq, rest = part.partition("=")
    name = name.strip()
    if not eq:
        raise ValueError(f"node spec {where}: expected <pool>=<count>x<cpu>c<mem>g[<n>gpu]")
    if not _POOL_NAME.match(name):
        raise ValueError(f"node spec {where}: pool name {name!r} must be a lowercase DNS label")
    sections = [s.strip() for s in rest.split(":")]
    shape = _SHAPE.match(sections[0])
    if not shape:
        raise ValueError(
            f"node spec {where}: shape {sections[0]!r} must look like 3x8c32g or 2x16c64g4gpu"
        )
    count, cpu, mem, gpus = (int(g) if g else 0 for g in shape.groups())
    if count < 1 or cpu < 1 or mem < 1:
        raise ValueError(f"node spec {where}: count, cpu and memory must be at least 1")
    labels: dict[str, str] = {}
    taints: list[Taint] = []
    i = 1
    while i < len(sections):
        section = sections[i]
        if section.startswith("taint="):
            # The taint's effect follows after its own ":" so it takes the next section.
            if i + 1 >= len(sections):
                raise ValueError(f"node spec {where}: taint {section!r} needs :<Effect>")
            taints.append(_parse_taint(section[len("taint=") :], sections[i + 1], where))
            i += 2
            continue
        if not section:
            raise ValueError(f"node spec {where}: empty section")
        for pair in section.split(";"):
            key, eq, value = pair.strip().partition("=")
            if not eq:
                raise ValueError(f"node spec {where}: label {pair!r} must be key=value")
            _check_label_key(key, where)
            _check_label_value(value, where)
            labels[key] = value
        i += 1
    return Pool(name, count, cpu, mem, gpus, labels, tuple(taints))


def parse_node_spec(spec: str | None) -> list[Pool]:
    """Return the pools described by `spec` (DEFAULT_SPEC when None).

    Guarantees unique pool names and at most MAX_NODES nodes; raises ValueError otherwise.
    """
    text = DEFAULT_SPEC if spec is None else spec
    if not text.strip():
        raise ValueError("node spec is empty")
    pools: list[Pool] = []
    seen: set[str] = set()
    for part in text.split(","):
        if not part.strip():
            raise ValueError(f"node spec {text!r}: empty pool between commas")
        pool = _parse_pool(part.strip())
        if pool.name in seen:
            raise ValueError(f"node spec {part.strip()!r}: duplicate pool name {pool.name!r}")
        seen.add(pool.name)
        pools.append(pool)
    if sum(p.count for p in pools) > MAX_NODES:
        raise ValueError(f"node spec {text!r}: more than {MAX_NODES} nodes")
    return pools


def build_nodes(pools: list[Pool]) -> list[dict[str, Any]]:
    """Return Node objects (Kubernetes JSON shape, no status timestamps) for `pools`.

    Node names are ``<pool>-<i>``; each node gets a distinct InternalIP and podCIDR.
    Allocatable equals capacity so that test arithmetic stays predictable.
    """
    nodes: list[dict[str, Any]] = []
    serial = 0
    for pool in pools:
        for i in range(pool.count):
            name = f"{pool.name}-{i}"
            labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": pool.instance_type,
                "kubesim.io/pool": pool.name,
            }
            capacity = {
                "cpu": str(pool.cpu),
                "memory": f"{pool.memory_gib}Gi",
                "pods": str(MAX_PODS),
                "ephemeral-storage": "100Gi",
            }
            if pool.gpus:
                labels["nvidia.com/gpu.present"] = "true"
                capacity["nvidia.com/gpu"] = str(pool.gpus)
            labels.update(pool.labels)
            # 10.<hi>.<lo>.1 style addresses give 65k distinct nodes without collisions.
            hi, lo = divmod(serial, 256)
            spec: dict[str, Any] = {
                "podCIDR": f"10.{128 + hi % 128}.{lo}.0/24",
                "providerID": f"kubesim://{name}",
            }
            if pool.taints:
                spec["taints"] = [t.to_api() for t in pool.taints]
            nodes.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": name, "labels": labels, "annotations": {}},
                    "spec": spec,
                    "status": {
                        "capacity": capacity,
                        "allocatable": dict(capacity),
                        "addresses": [
                            {"type": "InternalIP", "address": f"10.{hi % 128}.{lo}.10"},
                            {"type": "Hostname", "address": name},
                        ],
                        "nodeInfo": {
                            "kubeletVersion": KUBELET_VERSION,
                            "kubeProxyVersion": KUBELET_VERSION,
                            "containerRuntimeVersion": "kubesim://1.0.0",
                            "operatingSystem": "linux",
                            "architecture": "amd64",
                            "osImage": "kubesim (simulated)",
                            "kernelVersion": "6.1.0-kubesim",
                            "machineID": f"{serial:032x}",
                            "systemUUID": f"00000000-0000-0000-0000-{serial:012x}",
                            "bootID": f"b0000000-0000-0000-0000-{serial:012x}",
                        },
                        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                        "phase": "Running",
                    },
                }
            )
            serial += 1
    return nodes


def node_conditions(heartbeat: str, transition: str) -> list[dict[str, str]]:
    """Return a healthy node's conditions with the given heartbeat/transition times."""
    specs = (
        (
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    )
    return [
        {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": transition,
        }
        for ctype, status, reason, message in specs
    ]
