"""Starting one container of a pod as local processes, and running commands inside it.

`LocalRuntime` holds what every pod shares (options, addresses, cgroups, the processes it
started); `prepare_pod` lays out a pod's folder (volumes, /etc/hosts), `start` starts a
container, `exec_in` runs a command inside a running one (probes, and the API server's
exec through `kubesim.sim.localhook`), `shutdown` leaves no process behind.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
from dataclasses import dataclass, field
from typing import Any

from kubesim.quantity import parse_quantity

from . import isolate, terminal
from .cgroups import CgroupRoot
from .hosts import AddressPool
from .options import RuntimeOptions
from .podenv import Lookup, command_line, container_env, process_env
from .process import ContainerProcess
from .terminal import TerminalProcess
from .usage import first_child
from .volumes import Mount, Resolve, container_mounts, prepare_volumes, remove_pod_dir


class StartError(Exception):
    """The container cannot start (exit code 128, reason StartError, as the kubelet says)."""


@dataclass
class PodFiles:
    """A pod's folder on this machine: its volumes and its /etc/hosts."""

    folder: str
    volumes: dict[str, str]
    hosts_file: str


@dataclass
class Running:
    """A started container: its process and what a command run inside it gets."""

    process: ContainerProcess
    env: dict[str, str]
    workdir: str
    ip: str
    mounts: list[Mount] = field(default_factory=list)


VENV_TARGET = "/opt/kubesim-python"
# The environment of nsenter itself; the command inside gets exactly the container's.
_ENTER_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def _python_mounts(python: str) -> tuple[list[Mount], str]:
    """Return (mounts, bin folder inside containers) for the sandbox interpreter: a virtual
    environment is mounted at a fixed path, so a container's own mounts never hide it."""
    bin_dir = os.path.dirname(python)
    root = os.path.dirname(bin_dir)
    if os.path.exists(os.path.join(root, "pyvenv.cfg")):
        return [Mount(root, VENV_TARGET, True)], f"{VENV_TARGET}/bin"
    return [], bin_dir


def _home() -> str:
    return "/root" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_dir


def _to_host(path: str, mounts: list[Mount]) -> str:
    """Return where container path `path` lies on this machine."""
    for mount in sorted(mounts, key=lambda m: len(m.target), reverse=True):
        if path == mount.target or path.startswith(mount.target.rstrip("/") + "/"):
            return mount.source + path[len(mount.target) :]
    return path


def _find(executable: str, env: dict[str, str], mounts: list[Mount], workdir: str) -> bool:
    if "/" in executable:
        full = executable if executable.startswith("/") else os.path.join(workdir, executable)
        host = _to_host(os.path.normpath(full), mounts)
        return os.path.isfile(host) and os.access(host, os.X_OK)
    for folder in env.get("PATH", "").split(":"):
        host = _to_host(os.path.join(folder or ".", executable), mounts)
        if os.path.isfile(host) and os.access(host, os.X_OK):
            return True
    return False


def _default_command(image: str, args: list[str]) -> list[str]:
    """Return what the image's entrypoint would run when the spec gives no command."""
    if "curl" in image.split("/")[-1]:
        return ["curl", *args]
    if args:
        return args
    return ["python3"] if "python" in image else ["/bin/sh"]


def memory_limit(container: dict[str, Any]) -> int | None:
    """Return the container's memory limit in bytes, or None."""
    value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return int(parse_quantity(str(value))) if value else None


class LocalRuntime:
    """Runs containers as local processes in their own mount, PID and UTS namespaces."""

    def __init__(self, options: RuntimeOptions, lookup: Lookup, claim: Resolve) -> None:
        self.options = options
        self.lookup = lookup
        self.claim = claim
        self.addresses = AddressPool()
        self.cgroups = CgroupRoot(f"kubesim-{os.getpid()}-{id(self):x}")
        self.processes: set[ContainerProcess] = set()
        self.tool_mounts, self.python_bin = _python_mounts(options.python)
        self._tool = shutil.which(options.isolation) or options.isolation

    def pod_folder(self, uid: str) -> str:
        """Return the folder of pod `uid` under the runtime's root."""
        return os.path.join(self.options.root, "pods", uid)

    def prepare_pod(self, pod: dict[str, Any]) -> PodFiles:
        """Create the pod's folder, volumes and hosts file; raises VolumeError."""
        folder = self.pod_folder((pod.get("metadata") or {}).get("uid", "pod"))
        os.makedirs(folder, exist_ok=True)
        volumes = prepare_volumes(pod, folder, self.lookup, self.claim)
        hosts = os.path.join(folder, "hosts")
        if not os.path.exists(hosts):
            open(hosts, "w", encoding="utf-8").close()
        return PodFiles(folder, volumes, hosts)

    def hidden(self) -> list[str]:
        """Return the host folders no container may see."""
        return [self.options.root, *self.options.hide]

    def _layout(self, pod: dict[str, Any], files: PodFiles, mounts: list[Mount], workdir: str):
        return isolate.Layout(
            mounts=mounts,
            hosts_file=files.hosts_file,
            hidden=self.hidden(),
            hostname=str((pod.get("spec") or {}).get("hostname") or pod["metadata"]["name"]),
            workdir=workdir,
            extra=self.tool_mounts,
        )

    def plan(self, pod: dict[str, Any], container: dict[str, Any], files: PodFiles):
        """Return (argv, env, workdir, mounts) for `container`; raises StartError,
        EnvError or VolumeError before anything has started."""
        spec_env = container_env(pod, container, self.lookup)
        env = process_env(pod, spec_env, python_bin=self.python_bin, home=_home())
        argv = command_line(container, env)
        if not container.get("command"):
            argv = _default_command(str(container.get("image", "")), argv)
        mounts = container_mounts(container, files.volumes)
        workdir = str(container.get("workingDir") or "/")
        if not os.path.isdir(_to_host(workdir, mounts)):
            raise StartError(
                f"chdir to cwd ({workdir!r}) set in config.json failed: no such file or directory"
            )
        if not _find(argv[0], env, [*self.tool_mounts, *mounts], workdir):
            raise StartError(
                "failed to create containerd task: failed to create shim task: OCI runtime "
                "create failed: runc create failed: unable to start container process: exec: "
                f'"{argv[0]}": executable file not found in $PATH: unknown'
            )
        return argv, env, workdir, mounts

    def _argv(self, layout: isolate.Layout, argv: list[str], folder: str, name: str) -> list[str]:
        if self.options.isolation == "bwrap":
            return isolate.bwrap_argv(self._tool, layout, argv)
        return isolate.unshare_argv(self._tool, layout, os.path.join(folder, "root-" + name), argv)

    async def start(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        files: PodFiles,
        on_line: Any,
        *,
        ip: str,
        run_id: str,
    ) -> Running:
        """Start `container`; return it running.  Raises StartError, EnvError, VolumeError."""
        argv, env, workdir, mounts = self.plan(pod, container, files)
        layout = self._layout(pod, files, mounts, workdir)
        launcher = self._argv(layout, argv, files.folder, str(container.get("name", "c")))
        limit = memory_limit(container)
        cgroup = self.cgroups.create(run_id, limit) if limit else None
        process = ContainerProcess(launcher, env, on_line, memory_limit=limit, cgroup=cgroup)
        try:
            await process.start()
        except OSError as exc:
            process.close()
            raise StartError(f"failed to start the container process: {exc}") from exc
        self.processes.add(process)
        return Running(process, env, workdir, ip, mounts)

    def forget(self, process: ContainerProcess) -> None:
        """Drop a process that has exited (and its cgroup)."""
        self.processes.discard(process)
        process.close()

    def remove_pod(self, uid: str) -> None:
        """Delete the pod's own folder (its emptyDirs and generated files)."""
        remove_pod_dir(self.pod_folder(uid))

    async def exec_in(
        self, running: Running, argv: list[str], *, stdin: bool = False, tty: bool = False
    ) -> asyncio.subprocess.Process | TerminalProcess:
        """Run `argv` inside a running container's namespaces, with its environment and
        working directory; return the process with pipes for stdout and stderr (and
        stdin when asked), or with `tty` a `TerminalProcess` whose one terminal is its
        stdin, stdout and stderr (`TERM=xterm` unless the container sets it, as container
        runtimes do).  Raises StartError when the container has no process left."""
        launcher = running.process.pid
        inner = first_child(launcher) if launcher else None
        if inner is None or not running.process.running:
            raise StartError("container is not running")
        target = first_child(inner) or inner
        if tty:
            env = {"TERM": "xterm", **running.env}
            command = isolate.enter_argv(target, argv, env, running.workdir)
            return await terminal.spawn(command, _ENTER_ENV)
        command = isolate.enter_argv(target, argv, running.env, running.workdir)
        return await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_ENTER_ENV,
            start_new_session=True,
        )

    async def exec_output(
        self, running: Running, argv: list[str], timeout: float
    ) -> tuple[int, str]:
        """Run `argv` inside the container; return (exit code, combined output), code -1 on a
        time-out (the command is killed then)."""
        try:
            proc = await self.exec_in(running, argv)
        except (StartError, OSError) as exc:
            return 126, str(exc)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return -1, "timed out"
        return proc.returncode or 0, (out + err).decode("utf-8", "replace")

    async def shutdown(self) -> None:
        """Kill every process the runtime started and wait for them (at most 5 s)."""
        for process in list(self.processes):
            process.kill()
        waits = [p.proc.wait() for p in self.processes if p.proc is not None]
        if waits:
            await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 5)
        for process in list(self.processes):
            self.forget(process)
        self.cgroups.remove()
        self.addresses.close()
