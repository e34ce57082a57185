"""One container as a local process: start, logs line by line, memory limit, stop, exit.

The launcher (bubblewrap or unshare) is started in a new session; every process of the
container stays in that session, which is how it is measured, signalled and killed.
A memory limit uses the memory cgroup when this machine lets kubesim create one, else a
watchdog that kills at the limit; either way the exit is reported as OOMKilled, 137.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from . import usage
from .cgroups import MemoryCgroup

log = logging.getLogger(__name__)

WATCHDOG_SECONDS = 0.1
CHUNK = 65536


@dataclass(frozen=True)
class Exit:
    """How a container process ended: code as the kubelet reports it, and whether the
    memory limit killed it."""

    code: int
    oom: bool


class ContainerProcess:
    """A running container; `on_line(text)` receives each line of stdout and stderr."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        on_line: Callable[[str], None],
        *,
        memory_limit: int | None = None,
        cgroup: MemoryCgroup | None = None,
    ) -> None:
        self.argv = argv
        self.env = env
        self.on_line = on_line
        self.memory_limit = memory_limit
        self.cgroup = cgroup
        self.proc: asyncio.subprocess.Process | None = None
        self.oom = False
        self._pumps: list[asyncio.Task[None]] = []
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """Return the launcher's pid (also the session id of every container process)."""
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        """Start the process; raises OSError when it cannot be started at all."""
        argv = self.argv
        if self.cgroup is not None:
            # Join the cgroup before exec, so no process of the container escapes its limit.
            argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', self.cgroup.procs_file, *argv]
        self.proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            start_new_session=True,
            close_fds=True,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._pumps = [
            asyncio.ensure_future(self._pump(self.proc.stdout)),
            asyncio.ensure_future(self._pump(self.proc.stderr)),
        ]
        if self.memory_limit and self.cgroup is None:
            self._watchdog = asyncio.ensure_future(self._watch_memory(self.memory_limit))

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while True:
            chunk = await stream.read(CHUNK)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.on_line(line.decode("utf-8", "replace"))
            if len(pending) > CHUNK:  # a very long line: pass it on in pieces
                self.on_line(pending.decode("utf-8", "replace"))
                pending = b""
        if pending:
            self.on_line(pending.decode("utf-8", "replace"))

    async def _watch_memory(self, limit: int) -> None:
        while self.proc is not None and self.proc.returncode is None:
            _, rss = usage.session_usage([self.proc.pid]).get(self.proc.pid, (0.0, 0))
            if rss > limit:
                self.oom = True
                self.kill()
                return
            await asyncio.sleep(WATCHDOG_SECONDS)

    async def wait(self) -> Exit:
        """Wait for the end of the process and its output; return its exit."""
        assert self.proc is not None
        code = await self.proc.wait()
        for pump in self._pumps:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pump, 2)
        if self._watchdog is not None:
            self._watchdog.cancel()
        oom = self.oom or (self.cgroup is not None and self.cgroup.oom_killed())
        if oom:
            return Exit(137, True)
        return Exit(128 - code if code < 0 else code, False)

    def members(self) -> list[int]:
        """Return the pids of every live process of this container."""
        if self.pid is None:
            return []
        return usage.session_members([self.pid]).get(self.pid, [])

    def terminate(self) -> None:
        """Send SIGTERM to every process of the container but its launcher (which would
        take the others down with it at once instead of letting them shut down)."""
        for pid in self.members():
            if pid != self.pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL to the container's process group and every process of its session."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in self.members():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    @property
    def running(self) -> bool:
        """Return True until the launcher has exited."""
        return self.proc is not None and self.proc.returncode is None

    def close(self) -> None:
        """Remove the cgroup (after the process has gone)."""
        if self.cgroup is not None:
            self.cgroup.remove()
