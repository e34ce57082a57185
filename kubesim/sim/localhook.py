"""The local runtime as the API server sees it: a `PodRuntime` on `store.runtimes`.

`kubectl exec` (and `cp`, which is exec of `tar`), `kubectl port-forward` and the official
client's stream calls reach the kubelet's local pods through `LocalPodHook`: a command runs
inside a running container's namespaces with its environment (`LocalRuntime.exec_in`), and
a forwarded port is a TCP connection to the pod's own address.  Pods that run no local
container are not owned, so the API server answers that they are simulated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kubesim.runtime.containers import LocalRuntime
from kubesim.runtime.hook import Process
from kubesim.runtime.terminal import TerminalProcess

from .containers import ContainerSim, PodSim
from .informer import Key


class ExecError(Exception):
    """A command cannot start in the container; the message is what the client sees."""


class LocalPodHook:
    """Answers exec, attach and port-forward for the pods whose containers run locally."""

    def __init__(self, runtime: LocalRuntime, sims: Callable[[], dict[Key, PodSim]]) -> None:
        self._runtime = runtime
        self._sims = sims

    def _sim(self, pod: dict) -> PodSim | None:
        meta = pod.get("metadata") or {}
        sim = self._sims().get((meta.get("namespace") or "", meta.get("name") or ""))
        if sim is None or not sim.local or sim.uid != meta.get("uid"):
            return None
        return sim

    def owns(self, pod: dict) -> bool:
        """Return whether the kubelet runs any of ``pod``'s containers as a local process."""
        return self._sim(pod) is not None

    def _container(self, pod: dict, name: str) -> ContainerSim:
        sim = self._sim(pod)
        pod_name = (pod.get("metadata") or {}).get("name")
        if sim is None:
            raise ExecError(f'pod "{pod_name}" runs no local containers')
        found = next((c for c in sim.main + sim.init if c.name == name), None)
        if found is None:
            raise ExecError(f'container "{name}" not found in pod "{pod_name}"')
        if not found.local:
            raise ExecError(
                f'container "{name}" of pod "{pod_name}" is simulated by kubesim (its image '
                "is not in the local runtime's image map): it runs no processes"
            )
        if found.handle is None:
            raise ExecError(f'container "{name}" of pod "{pod_name}" is not running')
        return found

    async def exec(
        self, pod: dict, container: str, command: list[str], *, stdin: bool, tty: bool
    ) -> Process:
        """Start ``command`` inside the running container; raises ExecError, or OSError
        when the command cannot be started."""
        handle = self._container(pod, container).handle
        return await self._runtime.exec_in(handle, command, stdin=stdin, tty=tty)

    async def attach(self, pod: dict, container: str, *, stdin: bool, tty: bool) -> Process:
        """Refuse: a local container's stdio goes to its log, and nothing keeps its stdin.
        (Running its command a second time would repeat the work, so that is not done.)"""
        del stdin, tty
        self._container(pod, container)
        raise ExecError(
            "attach to a container of kubesim's local runtime is not supported (its output "
            "is in its log: use kubectl logs -f)"
        )

    def resize(self, process: Process, width: int, height: int) -> None:
        """Resize the terminal of an ``exec -t`` process (others have none)."""
        if isinstance(process, TerminalProcess):
            process.resize(width, height)

    async def connect(
        self, pod: dict, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a TCP connection to ``port`` on the pod's address (where its processes
        bind); raises OSError, as a refused connection does."""
        sim = self._sim(pod)
        if sim is None:
            raise ConnectionRefusedError("the pod runs no local containers")
        return await asyncio.open_connection(sim.pod_ip, port)
