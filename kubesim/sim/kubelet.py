"""The kubelets (one object drives every node): pod lifecycles, simulated or local.

A bound pod goes through sandbox creation, init containers one by one, image pulls, the main
containers (running, ready after a readiness delay), and termination, restarts with
CrashLoopBackOff or image pull back-off, and activeDeadlineSeconds, all driven by
`loop.call_later` timers rather than one task per pod.  Status changes mark the pod dirty;
the controller task writes each dirty pod's whole status once (so bursts coalesce).

With the local runtime, containers whose image is in the runtime's image map run as real
processes (`localpods`); their starts, exits, probes and readiness come back through the
``local_*`` callbacks, and the rest of the lifecycle (restarts, back-off, deadlines, status)
is the same code as for simulated containers.
"""

from __future__ import annotations

import logging
import uuid
import zlib
from dataclasses import replace
from typing import Any

from kubesim.runtime.options import RuntimeOptions

from .containers import ContainerSim, PodSim, normalise, pull_policy
from .events import EventRecorder
from .informer import Cluster, Controller, Key
from .localpods import LocalPods
from .podstatus import build_status
from .resources import qos_class
from .script import resolve, script_lines
from .util import controller_kind, now_iso, pod_is_terminal

log = logging.getLogger(__name__)

COMPONENT = "kubelet"
SANDBOX_SECONDS = 0.5  # simulated time to create the pod sandbox
PULL_SECONDS = 1.0  # simulated image pull time
CREATE_SECONDS = 0.2  # simulated container create + start time
BACKOFF_BASE = 10.0  # CrashLoopBackOff / image pull back-off: 10s doubling ...
BACKOFF_MAX = 300.0  # ... up to five minutes, as the kubelet does
MOUNT_RETRY_SECONDS = 2.0  # a volume that cannot be provided yet is tried again
CONFIG_RETRY_SECONDS = 2.0  # so is a container whose Secret or ConfigMap is missing


class Kubelet(Controller):
    """Simulates the kubelet of every node in the cluster."""

    name = "kubelet"

    def __init__(
        self,
        store: Any,
        cluster: Cluster,
        recorder: EventRecorder,
        speed: float,
        runtime: RuntimeOptions | None = None,
    ):
        super().__init__()
        self._store = store
        self._cluster = cluster
        self._events = recorder
        self._speed = speed
        self._sims: dict[Key, PodSim] = {}
        self._images: dict[str, set[str]] = {}
        self._ip_serial: dict[str, int] = {}
        self.local: LocalPods | None = None
        if runtime is not None and runtime.local:
            self.local = LocalPods(store, cluster, runtime, self)
            self.local.start_sampling()
        cluster.subscribe("pods", self._on_pod)

    @property
    def sims(self) -> dict[Key, PodSim]:
        """Return the pods this kubelet runs, by (namespace, name)."""
        return self._sims

    def measured(self) -> dict[Key, dict[str, tuple[float, int]]]:
        """Return what the local processes use: pod -> container -> (cores, bytes)."""
        return self.local.usage if self.local is not None else {}

    async def shutdown(self) -> None:
        """Stop every local process (none is left when this returns)."""
        if self.local is not None:
            await self.local.shutdown()

    # ----- informer handler -----

    def _on_pod(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        sim = self._sims.get(key)
        if event_type == "DELETED":
            if sim is not None and sim.uid == meta.get("uid"):
                del self._sims[key]
                sim.alive = False
                sim.cancel_timers()
                self._loop.call_soon(self._stopped, sim)
            return
        if sim is not None:
            if sim.uid == meta.get("uid"):
                return
            # Same name, new pod: the old one's timers must not touch it.
            sim.alive = False
            sim.cancel_timers()
            del self._sims[key]
        node = (obj.get("spec") or {}).get("nodeName")
        if not node or pod_is_terminal(obj) or meta.get("deletionTimestamp"):
            return
        if ("", node) not in self._cluster.objects["nodes"]:
            return  # no kubelet on a node that does not exist: the pod stays Pending
        sim = self._admit(key, obj, node)
        self._sims[key] = sim
        self.enqueue(key)
        self._later(sim, SANDBOX_SECONDS, self._sandbox_ready, sim)
        deadline = (obj.get("spec") or {}).get("activeDeadlineSeconds")
        if deadline is not None:
            self._later(sim, float(deadline), self._deadline, sim)

    def _admit(self, key: Key, pod: dict[str, Any], node: str) -> PodSim:
        spec = pod.get("spec") or {}
        owned = controller_kind(pod) == "ReplicaSet"
        default_policy = "Always"
        policy = spec.get("restartPolicy") or default_policy

        def make(c: dict[str, Any], init: bool, reason: str) -> ContainerSim:
            behaviour = resolve(pod, c, owned_by_rs=owned)
            if init and behaviour.run_forever:
                # An init container that never exits would wedge the pod: pod-wide
                # run-forever is meant for the main containers.
                behaviour = replace(behaviour, run_forever=False)
            return ContainerSim(
                name=c.get("name", ""),
                image=str(c.get("image", "")),
                init=init,
                behaviour=behaviour,
                pull_policy=pull_policy(c),
                waiting_reason=reason,
                local=self._runs_locally(pod, c),
                spec=c,
            )

        init_specs = spec.get("initContainers") or []
        main_reason = "PodInitializing" if init_specs else "ContainerCreating"
        node_obj = self._cluster.objects["nodes"].get(("", node)) or {}
        host_ip = next(
            (
                a.get("address", "")
                for a in (node_obj.get("status") or {}).get("addresses") or []
                if a.get("type") == "InternalIP"
            ),
            "",
        )
        sim = PodSim(
            key=key,
            uid=(pod.get("metadata") or {}).get("uid", ""),
            node=node,
            restart_policy=policy,
            init=[make(c, True, "PodInitializing") for c in init_specs],
            main=[make(c, False, main_reason) for c in spec.get("containers") or []],
            start_time=now_iso(),
            qos=qos_class(pod),
            host_ip=host_ip,
        )
        sim.local = any(c.local for c in sim.init + sim.main)
        grace = spec.get("terminationGracePeriodSeconds")
        sim.grace = float(30 if grace is None else grace)
        if self.local is not None:
            self._announce(sim, pod)
        return sim

    def _runs_locally(self, pod: dict[str, Any], container: dict[str, Any]) -> bool:
        if self.local is None:
            return False
        mode, _ = self.local.options.images.mode_for(pod, str(container.get("image", "")))
        return mode == "local"

    def _announce(self, sim: PodSim, pod: dict[str, Any]) -> None:
        """Say on the pod how each of its containers runs (local process or simulated)."""
        for c in sim.init + sim.main:
            _, why = self.local.options.images.mode_for(pod, c.image)
            if c.local:
                text = f"Container {c.name} runs as a local process ({why})"
            else:
                text = f"Container {c.name} is simulated: nothing runs ({why})"
            self._event(sim, "Normal", "LocalRuntime" if c.local else "Simulated", text, c)

    # ----- timers -----

    def _later(self, sim: PodSim, seconds: float, fn: Any, *args: Any) -> None:
        """Run fn(*args) after `seconds` of simulated time unless the pod goes away."""
        if len(sim.handles) > 16:
            now = self._loop.time()
            sim.handles = [h for h in sim.handles if not h.cancelled() and h.when() > now]
        sim.handles.append(self._loop.call_later(seconds / self._speed, self._guard, sim, fn, args))

    def later(self, sim: PodSim, seconds: float, fn: Any, *args: Any) -> None:
        """Hook for the local side: `_later`."""
        self._later(sim, seconds, fn, *args)

    def event(
        self, sim: PodSim, etype: str, reason: str, message: str, container: Any = None
    ) -> None:
        """Hook for the local side: record an event on the pod."""
        self._event(sim, etype, reason, message, container)

    def _guard(self, sim: PodSim, fn: Any, args: tuple[Any, ...]) -> None:
        if sim.alive and sim.phase is None:
            fn(*args)

    def _event(
        self,
        sim: PodSim,
        etype: str,
        reason: str,
        message: str,
        container: ContainerSim | None = None,
    ) -> None:
        self._events.record(
            sim.meta(),
            "Pod",
            etype,
            reason,
            message,
            COMPONENT,
            host=sim.node,
            field_path=container.field_path if container else None,
        )

    # ----- lifecycle steps -----

    def _sandbox_ready(self, sim: PodSim) -> None:
        if sim.local and self.local is not None:
            if not sim.pod_ip:
                sim.pod_ip = self.local.runtime.addresses.allocate()
            if not self.local.prepare(sim):
                self._later(sim, MOUNT_RETRY_SECONDS, self._sandbox_ready, sim)
                return
        else:
            sim.pod_ip = self._allocate_ip(sim.node)
        sim.sandbox_ready = True
        if sim.init:
            sim.init[0].waiting_reason = "ContainerCreating"
            self._prepare(sim, sim.init[0])
        else:
            for container in sim.main:
                self._prepare(sim, container)
        self.enqueue(sim.key)

    def _allocate_ip(self, node: str) -> str:
        node_obj = self._cluster.objects["nodes"].get(("", node)) or {}
        cidr = (node_obj.get("spec") or {}).get("podCIDR") or "10.244.0.0/24"
        serial = self._ip_serial.get(node, 0) % 252 + 1
        self._ip_serial[node] = serial
        return f"{cidr.split('/')[0].rsplit('.', 1)[0]}.{serial + 1}"

    def _prepare(self, sim: PodSim, c: ContainerSim) -> None:
        present = c.image in self._images.get(sim.node, ())
        if c.local or c.pull_policy == "Never" or (present and c.pull_policy == "IfNotPresent"):
            self._event(
                sim,
                "Normal",
                "Pulled",
                f'Container image "{c.image}" already present on machine',
                c,
            )
            self._later(sim, CREATE_SECONDS, self._start, sim, c)
            return
        self._event(sim, "Normal", "Pulling", f'Pulling image "{c.image}"', c)
        self._later(sim, PULL_SECONDS, self._pulled, sim, c)

    def _pulled(self, sim: PodSim, c: ContainerSim) -> None:
        if c.behaviour.pull_error:
            self._pull_failed(sim, c)
            return
        self._images.setdefault(sim.node, set()).add(c.image)
        took = PULL_SECONDS
        self._event(
            sim,
            "Normal",
            "Pulled",
            f'Successfully pulled image "{c.image}" in {took:.3f}s ({took:.3f}s including '
            f"waiting). Image size: {1_000_000 + zlib.crc32(c.image.encode()) % 900_000_000} "
            "bytes.",
            c,
        )
        self._later(sim, CREATE_SECONDS, self._start, sim, c)

    def _pull_failed(self, sim: PodSim, c: ContainerSim) -> None:
        ref = normalise(c.image)
        detail = (
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
            f'failed to resolve reference "{ref}": {ref}: not found'
        )
        c.pull_failures += 1
        c.waiting_reason, c.waiting_message = "ErrImagePull", detail
        self._event(sim, "Warning", "Failed", f'Failed to pull image "{c.image}": {detail}', c)
        self._event(sim, "Warning", "Failed", "Error: ErrImagePull", c)
        self.enqueue(sim.key)
        self._later(sim, 1.0, self._pull_backoff, sim, c)

    def _pull_backoff(self, sim: PodSim, c: ContainerSim) -> None:
        c.waiting_reason = "ImagePullBackOff"
        c.waiting_message = f'Back-off pulling image "{c.image}": ErrImagePull: {c.waiting_message}'
        self._event(sim, "Normal", "BackOff", f'Back-off pulling image "{c.image}"', c)
        self._event(sim, "Warning", "Failed", "Error: ImagePullBackOff", c)
        self.enqueue(sim.key)
        delay = min(BACKOFF_BASE * 2 ** (c.pull_failures - 1), BACKOFF_MAX)
        self._later(sim, delay, self._retry_pull, sim, c)

    def _retry_pull(self, sim: PodSim, c: ContainerSim) -> None:
        self._event(sim, "Normal", "Pulling", f'Pulling image "{c.image}"', c)
        self._later(sim, PULL_SECONDS, self._pulled, sim, c)

    def _start(self, sim: PodSim, c: ContainerSim) -> None:
        c.run += 1
        scheme = "kubesim-local" if c.local else "containerd"
        c.container_id = f"{scheme}://{uuid.uuid4().hex}{uuid.uuid4().hex}"
        self._event(sim, "Normal", "Created", f"Created container: {c.name}", c)
        if c.local and self.local is not None:
            c.stopping = None
            self.local.start(sim, c)
            return
        self._event(sim, "Normal", "Started", f"Started container {c.name}", c)
        c.running, c.started_at, c.terminated = True, now_iso(), None
        c.waiting_message = None
        c.lines = script_lines(sim.key[1], c.name, c.behaviour)
        c.next_line = 0
        if not c.init:
            if c.behaviour.readiness_delay <= 0:
                c.ready = True
            else:
                self._later(sim, c.behaviour.readiness_delay, self._ready, sim, c, c.run)
        self._log_tick(sim, c, c.run)
        if not c.behaviour.run_forever:
            self._later(sim, c.behaviour.duration, self._exit, sim, c, c.run)
        self.enqueue(sim.key)

    # ----- local containers (callbacks from LocalPods) -----

    def _live(self, sim: PodSim) -> bool:
        return sim.alive and sim.phase is None

    def local_started(self, sim: PodSim, c: ContainerSim, run: int) -> None:
        """The process of `c` runs."""
        if not self._live(sim) or c.run != run:
            return
        self._event(sim, "Normal", "Started", f"Started container {c.name}", c)
        c.running, c.started_at, c.terminated = True, now_iso(), None
        c.waiting_message = None
        self.enqueue(sim.key)

    def local_exited(
        self, sim: PodSim, c: ContainerSim, run: int, code: int, reason: str, message: str | None
    ) -> None:
        """The process of `c` ended (or never started: code 128, StartError)."""
        if not self._live(sim) or c.run != run:
            return
        if reason == "StartError":
            c.started_at = c.started_at or now_iso()
            self._event(sim, "Warning", "Failed", f"Error: {message}", c)
        c.handle = None
        self._terminate(sim, c, code, reason, message)
        self._after_exit(sim, c, code)
        self.enqueue(sim.key)

    def local_failed(self, sim: PodSim, c: ContainerSim, reason: str, message: str) -> None:
        """`c` cannot be created yet (a missing Secret or ConfigMap): wait and try again."""
        if not self._live(sim):
            return
        c.waiting_reason, c.waiting_message = reason, message
        self._event(sim, "Warning", "Failed", f"Error: {message}", c)
        self.enqueue(sim.key)
        self._later(sim, CONFIG_RETRY_SECONDS, self._start, sim, c)

    def local_ready(self, sim: PodSim, c: ContainerSim, ready: bool) -> None:
        """A readiness verdict (or a start without readiness probe) for `c`."""
        if self._live(sim) and not c.init and c.running and c.ready != ready:
            c.ready = ready
            self.enqueue(sim.key)

    def local_restart(self, sim: PodSim, c: ContainerSim, why: str) -> None:
        """A liveness or startup probe failed: stop `c`; its exit decides what follows."""
        if self._live(sim) and self.local is not None and c.running:
            self._event(sim, "Normal", "Killing", why, c)
            self.local.stop(sim, c, "Unhealthy")

    def _ready(self, sim: PodSim, c: ContainerSim, run: int) -> None:
        if c.run == run and c.running:
            c.ready = True
            self.enqueue(sim.key)

    def _log_tick(self, sim: PodSim, c: ContainerSim, run: int) -> None:
        if c.run != run or not c.running or c.next_line >= len(c.lines):
            return
        namespace, pod = sim.key
        self._store.logs.write(namespace, pod, c.name, c.lines[c.next_line])
        c.next_line += 1
        remaining = len(c.lines) - c.next_line
        if remaining:
            # Spread the lines over the run; servers print theirs within the first second.
            span = 1.0 if c.behaviour.run_forever else c.behaviour.duration
            self._later(sim, span / (len(c.lines)), self._log_tick, sim, c, run)

    def _flush_logs(self, sim: PodSim, c: ContainerSim) -> None:
        namespace, pod = sim.key
        while c.next_line < len(c.lines):
            self._store.logs.write(namespace, pod, c.name, c.lines[c.next_line])
            c.next_line += 1

    def _terminate(
        self, sim: PodSim, c: ContainerSim, code: int, reason: str, message: str | None = None
    ) -> None:
        c.running, c.ready = False, False
        c.terminated = {
            "exitCode": code,
            "reason": reason,
            "startedAt": c.started_at,
            "finishedAt": now_iso(),
            "containerID": c.container_id,
        }
        if message:
            c.terminated["message"] = message
        self._store.logs.close(sim.key[0], sim.key[1], c.name)

    def _exit(self, sim: PodSim, c: ContainerSim, run: int) -> None:
        if c.run != run or not c.running:
            return
        self._flush_logs(sim, c)
        b = c.behaviour
        code, reason = (
            (137, "OOMKilled")
            if b.oom
            else (b.exit_code, "Completed" if b.exit_code == 0 else "Error")
        )
        self._terminate(sim, c, code, reason)
        self._after_exit(sim, c, code)

    def _after_exit(self, sim: PodSim, c: ContainerSim, code: int) -> None:
        """Restart, move on to the next container, or finish the pod after `c` ended."""
        restart = sim.restart_policy == "Always" or (
            sim.restart_policy == "OnFailure" and code != 0
        )
        if c.init:
            # Init containers never restart on success, whatever the pod's restartPolicy.
            restart = code != 0 and sim.restart_policy != "Never"
        if restart:
            self._crash_backoff(sim, c)
        elif c.init and code == 0:
            sim.init_done += 1
            if sim.init_done < len(sim.init):
                nxt = sim.init[sim.init_done]
                nxt.waiting_reason = "ContainerCreating"
                self._prepare(sim, nxt)
            else:
                for container in sim.main:
                    container.waiting_reason = "ContainerCreating"
                    self._prepare(sim, container)
        elif c.init:
            self._finish(sim, "Failed")
        elif all(m.terminated is not None and not m.running for m in sim.main):
            ok = all(m.terminated and m.terminated["exitCode"] == 0 for m in sim.main)
            self._finish(sim, "Succeeded" if ok else "Failed")
        self.enqueue(sim.key)

    def _crash_backoff(self, sim: PodSim, c: ContainerSim) -> None:
        delay = min(BACKOFF_BASE * 2**c.restart_count, BACKOFF_MAX)
        namespace, pod = sim.key
        c.last_state = {"terminated": c.terminated}
        c.terminated = None
        c.restart_count += 1
        c.waiting_reason = "CrashLoopBackOff"
        c.waiting_message = (
            f"back-off {int(delay)}s restarting failed container={c.name} "
            f"pod={pod}_{namespace}({sim.uid})"
        )
        self._event(
            sim,
            "Warning",
            "BackOff",
            f"Back-off restarting failed container {c.name} in pod {pod}_{namespace}({sim.uid})",
            c,
        )
        self._later(sim, delay, self._restart, sim, c)

    def _restart(self, sim: PodSim, c: ContainerSim) -> None:
        self._store.logs.restart(sim.key[0], sim.key[1], c.name)
        self._prepare(sim, c)

    def _finish(
        self, sim: PodSim, phase: str, reason: str | None = None, message: str | None = None
    ) -> None:
        sim.phase, sim.reason, sim.message = phase, reason, message
        sim.cancel_timers()

    def _deadline(self, sim: PodSim) -> None:
        for c in sim.init + sim.main:
            if c.running:
                self._event(sim, "Normal", "Killing", f"Stopping container {c.name}", c)
                self._terminate(sim, c, 137, "Error")
            if c.local and self.local is not None:
                self.local.stop(sim, c, "DeadlineExceeded")
        message = "Pod was active on the node longer than the specified deadline"
        self._event(sim, "Normal", "DeadlineExceeded", message)
        self._finish(sim, "Failed", "DeadlineExceeded", message)
        self.enqueue(sim.key)

    def _stopped(self, sim: PodSim) -> None:
        """Pod deleted: kill what was running and finish its logs."""
        for c in sim.init + sim.main:
            if c.running:
                self._event(sim, "Normal", "Killing", f"Stopping container {c.name}", c)
                c.running = False
                self._store.logs.close(sim.key[0], sim.key[1], c.name)
            if c.local and self.local is not None:
                self.local.stop(sim, c, "Deleted")
        if self.local is not None:
            self.local.forget_pod(sim)

    def reconcile(self, key: Key) -> None:
        """Write the pod's status from its simulation; forget finished pods afterwards."""
        sim = self._sims.get(key)
        pod = self._cluster.pods.get(key)
        if sim is None or pod is None or not sim.alive:
            return
        status = build_status(sim, pod)
        try:
            self._store.patch(
                "pods", key[1], {"status": status}, namespace=key[0], subresource="status"
            )
        except Exception as exc:
            code = getattr(exc, "code", None)
            if code == 404:
                self._sims.pop(key, None)
                sim.alive = False
                sim.cancel_timers()
                if self.local is not None:
                    self.local.forget_pod(sim)
                return
            raise
        if sim.phase is not None:
            # Terminal pods need no more simulation; the store keeps their final status.
            self._sims.pop(key, None)
            sim.alive = False
            if self.local is not None:
                self.local.forget_pod(sim)

    @property
    def active_pods(self) -> int:
        """Return the number of pods currently simulated."""
        return len(self._sims)
