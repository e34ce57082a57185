"""The hook a pod runtime registers so exec, attach and port-forward reach real processes.

Simulated pods run nothing; a runtime that does run a pod's containers (the local runtime)
registers itself on the store's ``runtimes`` and answers for the pods it ``owns``. The API
server asks it to start a command in a container and to open a connection to a pod's port;
pods no runtime owns get a Status saying they are simulated.  A runtime may also have
``attach(pod, container, *, stdin, tty) -> Process``; without it, attach runs the
container's command through ``exec``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Process(Protocol):
    """A command started in a container: the shape of ``asyncio.subprocess.Process``.

    ``stdin`` is None when the caller asked for no stdin; with a TTY, ``stderr`` is None
    (a terminal merges both streams).
    """

    stdin: asyncio.StreamWriter | None
    stdout: asyncio.StreamReader | None
    stderr: asyncio.StreamReader | None

    async def wait(self) -> int: ...


class PodRuntime(Protocol):
    """What the API server needs from a runtime that runs pods' containers."""

    def owns(self, pod: dict) -> bool:
        """Return whether this runtime runs ``pod``'s containers."""
        ...

    async def exec(
        self, pod: dict, container: str, command: list[str], *, stdin: bool, tty: bool
    ) -> Process:
        """Start ``command`` in the container (its namespaces, environment and mounts)."""
        ...

    def resize(self, process: Process, width: int, height: int) -> None:
        """Resize the terminal of a TTY ``process``."""
        ...

    async def connect(
        self, pod: dict, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a TCP connection to ``port`` on the pod's address."""
        ...


class Runtimes:
    """The registered runtimes; the first that owns a pod answers for it."""

    def __init__(self) -> None:
        self._runtimes: list[PodRuntime] = []

    def register(self, runtime: PodRuntime) -> None:
        """Add ``runtime`` (kept until ``unregister``)."""
        self._runtimes.append(runtime)

    def unregister(self, runtime: PodRuntime) -> None:
        """Remove ``runtime``; unknown ones are ignored."""
        if runtime in self._runtimes:
            self._runtimes.remove(runtime)

    def for_pod(self, pod: dict) -> PodRuntime | None:
        """Return the runtime running ``pod``, or None when the pod is only simulated."""
        return next((r for r in self._runtimes if r.owns(pod)), None)
