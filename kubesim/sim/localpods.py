"""The kubelet's local side: containers that run as processes through `kubesim.runtime`.

`LocalPods` prepares a pod's folder and addresses, starts and stops its processes, runs
their probes on the kubelet's timers and reports back through the kubelet's `local_*`
callbacks (a `KubeletHooks`).  It also keeps every pod's /etc/hosts in step with its
headless-Service peers and measures what the processes use, for the metrics API, and it
registers the `LocalPodHook` through which the API server's exec and port-forward reach them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any, Protocol

from kubesim.runtime.containers import LocalRuntime, StartError
from kubesim.runtime.hosts import hosts_text, write_in_place
from kubesim.runtime.options import RuntimeOptions
from kubesim.runtime.podenv import EnvError
from kubesim.runtime.probes import run_probe
from kubesim.runtime.process import Exit
from kubesim.runtime.usage import session_usage
from kubesim.runtime.volumes import VolumeError

from .containers import ContainerSim, PodSim
from .informer import Cluster, Key
from .localhook import LocalPodHook

log = logging.getLogger(__name__)

PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
SAMPLE_SECONDS = 1.0


class KubeletHooks(Protocol):
    """What `LocalPods` calls back on the kubelet (on the loop thread)."""

    def later(self, sim: PodSim, seconds: float, fn: Any, *args: Any) -> None: ...

    def event(
        self,
        sim: PodSim,
        etype: str,
        reason: str,
        message: str,
        container: ContainerSim | None = None,
    ) -> None: ...

    def local_started(self, sim: PodSim, c: ContainerSim, run: int) -> None: ...

    def local_exited(
        self, sim: PodSim, c: ContainerSim, run: int, code: int, reason: str, message: str | None
    ) -> None: ...

    def local_failed(self, sim: PodSim, c: ContainerSim, reason: str, message: str) -> None: ...

    def local_ready(self, sim: PodSim, c: ContainerSim, ready: bool) -> None: ...

    def local_restart(self, sim: PodSim, c: ContainerSim, why: str) -> None: ...


class LocalPods:
    """Runs the local containers of the kubelet's pods."""

    def __init__(self, store: Any, cluster: Cluster, options: RuntimeOptions, hooks: KubeletHooks):
        self._store = store
        self._cluster = cluster
        self._hooks = hooks
        self.options = options
        self.runtime = LocalRuntime(options, self._lookup, self._claim)
        # exec, attach and port-forward of the API server reach these pods through the hook.
        self.hook = LocalPodHook(self.runtime, lambda: getattr(self._hooks, "sims", {}))
        store.runtimes.register(self.hook)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._samples: dict[int, tuple[float, float]] = {}  # session -> (monotonic, cpu s)
        self.usage: dict[Key, dict[str, tuple[float, int]]] = {}  # pod -> container -> use
        self._sampler: asyncio.Task[None] | None = None

    # ----- lookups the runtime needs -----

    def _lookup(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._store.peek(resource, name, namespace=namespace)

    def _claim(self, namespace: str, claim: str) -> str:
        pvc = self._store.peek("persistentvolumeclaims", claim, namespace=namespace)
        if pvc is None:
            raise VolumeError(f'persistentvolumeclaim "{claim}" not found')
        volume = (pvc.get("spec") or {}).get("volumeName")
        if (pvc.get("status") or {}).get("phase") != "Bound" or not volume:
            raise VolumeError(f'persistentvolumeclaim "{claim}" is not bound')
        pv = self._store.peek("persistentvolumes", volume) or {}
        spec = pv.get("spec") or {}
        path = (spec.get("hostPath") or spec.get("local") or {}).get("path")
        if not path:
            raise VolumeError(f'persistentvolume "{volume}" has no local path')
        os.makedirs(path, exist_ok=True)
        return path

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----- pods -----

    def pod_view(self, sim: PodSim) -> dict[str, Any] | None:
        """Return the cached pod with the address the kubelet gave it."""
        pod = self._cluster.pods.get(sim.key)
        if pod is None or (pod.get("metadata") or {}).get("uid") != sim.uid:
            return None
        return {
            **pod,
            "status": {**(pod.get("status") or {}), "podIP": sim.pod_ip, "hostIP": sim.host_ip},
        }

    def prepare(self, sim: PodSim) -> bool:
        """Lay out the pod's folder; on failure record FailedMount and return False."""
        pod = self.pod_view(sim)
        if pod is None:
            return False
        try:
            sim.files = self.runtime.prepare_pod(pod)
        except (VolumeError, EnvError, OSError) as exc:
            self._hooks.event(sim, "Warning", "FailedMount", str(exc))
            return False
        self.refresh_hosts(sim.key[0], (pod.get("spec") or {}).get("subdomain") or "")
        return True

    def _hosts_peers(self, namespace: str, subdomain: str) -> list[tuple[PodSim, dict]]:
        sims = getattr(self._hooks, "sims", {})
        out = []
        for sim in list(sims.values()):
            pod = self._cluster.pods.get(sim.key)
            if sim.key[0] != namespace or not sim.local or sim.files is None or pod is None:
                continue
            if ((pod.get("spec") or {}).get("subdomain") or "") == subdomain:
                out.append((sim, pod))
        return out

    def refresh_hosts(self, namespace: str, subdomain: str) -> None:
        """Rewrite /etc/hosts of every local pod sharing this (namespace, subdomain)."""
        members = self._hosts_peers(namespace, subdomain)
        peers = (
            [(str((p.get("spec") or {}).get("hostname") or s.key[1]), s.pod_ip) for s, p in members]
            if subdomain
            else []
        )
        for sim, pod in members:
            spec = pod.get("spec") or {}
            text = hosts_text(
                name=sim.key[1],
                hostname=str(spec.get("hostname") or ""),
                subdomain=subdomain,
                namespace=namespace,
                ip=sim.pod_ip,
                peers=peers,
            )
            with contextlib.suppress(OSError):
                write_in_place(sim.files.hosts_file, text)

    def forget_pod(self, sim: PodSim) -> None:
        """Release the pod's address and folder once none of its processes runs."""
        if any(c.handle is not None for c in sim.init + sim.main):
            return
        self.runtime.addresses.release(sim.pod_ip)
        self.usage.pop(sim.key, None)
        if sim.files is not None:
            self.runtime.remove_pod(sim.uid)
            sim.files = None

    # ----- containers -----

    def start(self, sim: PodSim, c: ContainerSim) -> None:
        """Start container `c` (asynchronously); the outcome arrives through the hooks."""
        self._spawn(self._run(sim, c, c.run))

    async def _run(self, sim: PodSim, c: ContainerSim, run: int) -> None:
        pod = self.pod_view(sim)
        if pod is None or sim.files is None:
            return
        namespace, name = sim.key

        def on_line(text: str) -> None:
            self._store.logs.write(namespace, name, c.name, text)

        try:
            handle = await self.runtime.start(
                pod, c.spec, sim.files, on_line, ip=sim.pod_ip, run_id=f"{sim.uid}-{c.name}-{run}"
            )
        except EnvError as exc:
            self._hooks.local_failed(sim, c, "CreateContainerConfigError", str(exc))
            return
        except (StartError, VolumeError) as exc:
            self._hooks.local_exited(sim, c, run, 128, "StartError", str(exc))
            return
        c.handle = handle
        if not sim.alive or c.run != run:
            handle.process.kill()
        else:
            self._hooks.local_started(sim, c, run)
            self._schedule_probes(sim, c, run)
        result: Exit = await handle.process.wait()
        self.runtime.forget(handle.process)
        c.handle = None
        reason = "OOMKilled" if result.oom else ("Completed" if result.code == 0 else "Error")
        self._hooks.local_exited(sim, c, run, result.code, reason, None)
        if not sim.alive:
            self.forget_pod(sim)

    def stop(self, sim: PodSim, c: ContainerSim, why: str) -> None:
        """SIGTERM to the container's processes, SIGKILL after the pod's grace period."""
        handle = c.handle
        if handle is None or not handle.process.running:
            return
        c.stopping = why
        handle.process.terminate()
        loop = asyncio.get_running_loop()
        loop.call_later(sim.grace, self._kill_if_running, handle)

    @staticmethod
    def _kill_if_running(handle: Any) -> None:
        if handle.process.running:
            handle.process.kill()

    # ----- probes -----

    def _schedule_probes(self, sim: PodSim, c: ContainerSim, run: int) -> None:
        c.started_ok = "startupProbe" not in c.spec
        c.probe_failures.clear()
        c.probe_successes.clear()
        for kind in PROBES:
            probe = c.spec.get(kind)
            if probe:
                delay = float(probe.get("initialDelaySeconds") or 0)
                self._hooks.later(sim, delay, self._probe, sim, c, run, kind)
        if "readinessProbe" not in c.spec and c.started_ok:
            self._hooks.local_ready(sim, c, True)

    def _probe(self, sim: PodSim, c: ContainerSim, run: int, kind: str) -> None:
        if c.run != run or c.handle is None or c.stopping:
            return
        if kind != "startupProbe" and not c.started_ok:
            self._hooks.later(sim, 0.2, self._probe, sim, c, run, kind)
            return
        if kind == "startupProbe" and c.started_ok:
            return
        self._spawn(self._probe_once(sim, c, run, kind))

    async def _probe_once(self, sim: PodSim, c: ContainerSim, run: int, kind: str) -> None:
        probe = c.spec.get(kind) or {}
        handle = c.handle
        if handle is None:
            return

        async def exec_fn(argv: list[str], timeout: float) -> tuple[int, str]:
            return await self.runtime.exec_output(handle, argv, timeout)

        ok, message = await run_probe(probe, c.spec, sim.pod_ip, exec_fn)
        if c.run != run or c.handle is None or c.stopping:
            return
        self._probe_result(sim, c, kind, ok, message)
        self._hooks.later(
            sim, float(probe.get("periodSeconds") or 10), self._probe, sim, c, run, kind
        )

    def _probe_result(self, sim: PodSim, c: ContainerSim, kind: str, ok: bool, message: str):
        probe = c.spec.get(kind) or {}
        if ok:
            c.probe_failures[kind] = 0
            c.probe_successes[kind] = c.probe_successes.get(kind, 0) + 1
            if c.probe_successes[kind] >= int(probe.get("successThreshold") or 1):
                self._passed(sim, c, kind)
            return
        c.probe_successes[kind] = 0
        c.probe_failures[kind] = c.probe_failures.get(kind, 0) + 1
        label = {"startupProbe": "Startup", "livenessProbe": "Liveness"}.get(kind, "Readiness")
        self._hooks.event(sim, "Warning", "Unhealthy", f"{label} probe failed: {message}", c)
        if c.probe_failures[kind] < int(probe.get("failureThreshold") or 3):
            return
        if kind == "readinessProbe":
            self._hooks.local_ready(sim, c, False)
        else:
            what = "startup" if kind == "startupProbe" else "liveness"
            self._hooks.local_restart(
                sim, c, f"Container {c.name} failed {what} probe, will be restarted"
            )

    def _passed(self, sim: PodSim, c: ContainerSim, kind: str) -> None:
        if kind == "startupProbe" and not c.started_ok:
            c.started_ok = True
            if "readinessProbe" not in c.spec:
                self._hooks.local_ready(sim, c, True)
        elif kind == "readinessProbe":
            self._hooks.local_ready(sim, c, True)

    # ----- usage -----

    def start_sampling(self) -> None:
        """Start measuring the processes' CPU and memory once a second."""
        if self._sampler is None:
            self._sampler = asyncio.ensure_future(self._sample_loop())

    async def _sample_loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                self.sample()
            await asyncio.sleep(SAMPLE_SECONDS)

    def sample(self) -> None:
        """Refresh `usage`: CPU cores (rate since the last sample) and resident bytes."""
        sims = getattr(self._hooks, "sims", {})
        running = [
            (sim, c)
            for sim in list(sims.values())
            for c in sim.init + sim.main
            if c.handle is not None and c.handle.process.pid
        ]
        measured = session_usage(c.handle.process.pid for _, c in running)
        now = time.monotonic()
        fresh: dict[Key, dict[str, tuple[float, int]]] = {}
        seen = set()
        for sim, c in running:
            pid = c.handle.process.pid
            seen.add(pid)
            cpu, rss = measured.get(pid, (0.0, 0))
            then, before = self._samples.get(pid, (now, cpu))
            rate = (cpu - before) / (now - then) if now > then else 0.0
            self._samples[pid] = (now, cpu)
            fresh.setdefault(sim.key, {})[c.name] = (max(rate, 0.0), rss)
        self._samples = {pid: v for pid, v in self._samples.items() if pid in seen}
        self.usage = fresh

    # ----- shutdown -----

    async def shutdown(self) -> None:
        """Stop every process, probe and sampler; returns when none is left."""
        self._store.runtimes.unregister(self.hook)
        if self._sampler is not None:
            self._sampler.cancel()
        await self.runtime.shutdown()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
