"""Memory cgroups for container limits (cgroup v2 ``memory.max`` or v1
``memory.limit_in_bytes``), when this machine lets kubesim create them."""

from __future__ import annotations

import contextlib
import os

V1 = "/sys/fs/cgroup/memory"
V2 = "/sys/fs/cgroup"


def _writable(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK)


class MemoryCgroup:
    """One container's memory cgroup; `oom_killed()` tells whether the limit killed in it."""

    def __init__(self, path: str, v2: bool) -> None:
        self.path = path
        self.v2 = v2

    @property
    def procs_file(self) -> str:
        """Return the file a process writes its pid to in order to join."""
        return os.path.join(self.path, "cgroup.procs")

    def oom_killed(self) -> bool:
        """Return True when the kernel's OOM killer acted inside this cgroup."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            with open(os.path.join(self.path, name), encoding="ascii") as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
        except (OSError, ValueError):
            return False
        return False

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            os.rmdir(self.path)


class CgroupRoot:
    """Where kubesim creates its containers' memory cgroups, or nothing (watchdog then)."""

    def __init__(self, name: str) -> None:
        self.base: str | None = None
        self.v2 = False
        if os.path.exists(os.path.join(V2, "cgroup.controllers")):
            with contextlib.suppress(OSError):
                with open(os.path.join(V2, "cgroup.controllers"), encoding="ascii") as fh:
                    if "memory" in fh.read().split() and _writable(V2):
                        self.base, self.v2 = os.path.join(V2, name), True
        if self.base is None and _writable(V1):
            self.base = os.path.join(V1, name)
        if self.base is not None:
            try:
                os.makedirs(self.base, exist_ok=True)
            except OSError:
                self.base = None

    @property
    def kind(self) -> str:
        """Return "cgroup v2", "cgroup v1" or "watchdog"."""
        if self.base is None:
            return "watchdog"
        return "cgroup v2" if self.v2 else "cgroup v1"

    def create(self, name: str, limit: int) -> MemoryCgroup | None:
        """Return a new cgroup limited to `limit` bytes, or None when none can be made."""
        if self.base is None:
            return None
        path = os.path.join(self.base, name)
        try:
            os.makedirs(path, exist_ok=True)
            if self.v2:
                self._write(path, "memory.max", limit)
                self._write(path, "memory.swap.max", 0, required=False)
            else:
                self._write(path, "memory.limit_in_bytes", limit)
                self._write(path, "memory.memsw.limit_in_bytes", limit, required=False)
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(path)
            return None
        return MemoryCgroup(path, self.v2)

    @staticmethod
    def _write(path: str, name: str, value: int, required: bool = True) -> None:
        try:
            with open(os.path.join(path, name), "w", encoding="ascii") as fh:
                fh.write(str(value))
        except OSError:
            if required:
                raise

    def remove(self) -> None:
        """Remove the (empty) base cgroup."""
        if self.base is not None:
            with contextlib.suppress(OSError):
                for entry in os.listdir(self.base):
                    sub = os.path.join(self.base, entry)
                    if os.path.isdir(sub):
                        with contextlib.suppress(OSError):
                            os.rmdir(sub)
                os.rmdir(self.base)
