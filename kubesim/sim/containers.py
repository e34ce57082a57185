"""Runtime state of the pods the kubelet runs: one `PodSim` per pod, one `ContainerSim` per
container (simulated or local), and the image name helpers the kubelet reports with."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from .informer import Key
from .script import Behaviour


@dataclass
class ContainerSim:
    """Runtime state of one container of a simulated pod."""

    name: str
    image: str
    init: bool
    behaviour: Behaviour
    pull_policy: str
    waiting_reason: str = "ContainerCreating"
    waiting_message: str | None = None
    running: bool = False
    started_at: str | None = None
    terminated: dict[str, Any] | None = None
    last_state: dict[str, Any] | None = None
    restart_count: int = 0
    ready: bool = False
    container_id: str = ""
    run: int = 0  # bumps on each (re)start so stale timers can tell they are stale
    pull_failures: int = 0
    local: bool = False  # runs as a local process (kubesim.runtime)
    spec: dict[str, Any] = field(default_factory=dict)
    handle: Any = None  # the local runtime's Running, while a process runs
    started_ok: bool = False  # startup probe passed (or none)
    probe_failures: dict[str, int] = field(default_factory=dict)
    probe_successes: dict[str, int] = field(default_factory=dict)
    stopping: str | None = None  # why the kubelet is stopping the process
    lines: list[str] = field(default_factory=list)
    next_line: int = 0

    @property
    def field_path(self) -> str:
        return f"spec.{'initContainers' if self.init else 'containers'}{{{self.name}}}"

    def status(self) -> dict[str, Any]:
        """Return this container's status in Kubernetes JSON shape."""
        if self.running:
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.terminated is not None:
            state = {"terminated": self.terminated}
        else:
            waiting: dict[str, Any] = {"reason": self.waiting_reason}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            state = {"waiting": waiting}
        out: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": image_id(self.image) if self.container_id else "",
            "ready": self.ready,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": self.last_state or {},
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


@dataclass
class PodSim:
    """Runtime state of one simulated pod."""

    key: Key
    uid: str
    node: str
    restart_policy: str
    init: list[ContainerSim]
    main: list[ContainerSim]
    start_time: str
    qos: str
    host_ip: str
    pod_ip: str = ""
    sandbox_ready: bool = False
    init_done: int = 0
    phase: str | None = None  # set once terminal
    reason: str | None = None
    message: str | None = None
    handles: list[Any] = field(default_factory=list)
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)
    alive: bool = True
    local: bool = False  # at least one container runs as a local process
    files: Any = None  # the local runtime's PodFiles once the pod's folder is ready
    grace: float = 30.0

    def meta(self) -> dict[str, Any]:
        """Return a minimal metadata dict for event recording."""
        return {"metadata": {"namespace": self.key[0], "name": self.key[1], "uid": self.uid}}

    def cancel_timers(self) -> None:
        for handle in self.handles:
            handle.cancel()
        self.handles.clear()


def image_id(image: str) -> str:
    digest = f"{zlib.crc32(image.encode()):08x}" * 8
    return f"{normalise(image).rsplit(':', 1)[0]}@sha256:{digest}"


def normalise(image: str) -> str:
    name = image
    if "/" not in name.split(":")[0] or "." not in name.split("/")[0]:
        name = ("docker.io/library/" if "/" not in name else "docker.io/") + name
    if ":" not in name.rsplit("/", 1)[-1] and "@" not in name:
        name += ":latest"
    return name


def pull_policy(container: dict[str, Any]) -> str:
    policy = container.get("imagePullPolicy")
    if policy:
        return policy
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    return "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent"
