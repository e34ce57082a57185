"""The command lines that run a container in its own mount, PID and UTS namespaces.

With bubblewrap: a fresh root holding the host's top-level folders, a private /tmp, /proc
of the new PID namespace, the pod's /etc/hosts, the container's mounts, and empty folders
over everything that must stay hidden (the portal's data, kubesim's own files).  With
``unshare`` (as root): the same layout built by a small shell script in a new root folder.
`enter_argv` runs another command inside a running container's namespaces.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .volumes import Mount

# Host top-level entries a container does not get from the host as they are.
_OWN = {"proc", "dev", "sys", "tmp", "lost+found"}


@dataclass(frozen=True)
class Layout:
    """What one container sees: mounts, hosts file, hidden folders, hostname, working dir."""

    mounts: Sequence[Mount]
    hosts_file: str
    hidden: Sequence[str]
    hostname: str
    workdir: str
    extra: Sequence[Mount] = ()  # read-only tool folders (the sandbox interpreter)


def _top_level() -> list[tuple[str, str | None]]:
    """Return (entry, symlink target or None) for the host's top-level folders."""
    out = []
    for entry in sorted(os.listdir("/")):
        path = "/" + entry
        if entry in _OWN or not (os.path.isdir(path) or os.path.islink(path)):
            continue
        out.append((path, os.readlink(path) if os.path.islink(path) else None))
    return out


def _hidden(layout: Layout) -> list[tuple[str, bool]]:
    """Return (real path, is a folder) of what must stay hidden: folders are covered with
    an empty one, files with /dev/null."""
    out = []
    for path in layout.hidden:
        real = os.path.realpath(path)
        if real != "/" and os.path.exists(real):
            out.append((real, os.path.isdir(real)))
    return out


def bwrap_argv(bwrap: str, layout: Layout, argv: Sequence[str]) -> list[str]:
    """Return the bubblewrap command running `argv` inside `layout`."""
    out = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-uts", "--unshare-ipc"]
    out += ["--hostname", layout.hostname]
    for path, link in _top_level():
        out += ["--symlink", link, path] if link else ["--bind", path, path]
    out += ["--proc", "/proc", "--dev", "/dev", "--ro-bind", "/sys", "/sys", "--tmpfs", "/tmp"]
    for hidden, folder in _hidden(layout):
        out += ["--tmpfs", hidden] if folder else ["--ro-bind", "/dev/null", hidden]
    for mount in [*layout.extra, *layout.mounts]:
        out += ["--ro-bind" if mount.read_only else "--bind", mount.source, mount.target]
    out += ["--ro-bind", layout.hosts_file, "/etc/hosts", "--chdir", layout.workdir, "--"]
    return out + list(argv)


def unshare_argv(unshare: str, layout: Layout, root: str, argv: Sequence[str]) -> list[str]:
    """Return the unshare command running `argv` inside `layout`, built under `root`.

    The shell stays PID 1 of the namespace (so the command itself receives SIGTERM) and
    runs the command as its child.
    """
    q = shlex.quote
    lines = ["set -e", f"R={q(root)}", 'mkdir -p "$R"', 'mount -t tmpfs kubesim "$R"']
    for path, link in _top_level():
        if link:
            lines.append(f'ln -s {q(link)} "$R"{q(path)}')
        else:
            lines.append(f'mkdir -p "$R"{q(path)} && mount --rbind {q(path)} "$R"{q(path)}')
    lines += [
        'mkdir -p "$R/proc" "$R/dev" "$R/sys" "$R/tmp"',
        'mount -t proc proc "$R/proc"',
        'mount --rbind /dev "$R/dev"',
        'mount --rbind /sys "$R/sys"',
        'mount -t tmpfs tmp "$R/tmp"',
        f"hostname {q(layout.hostname)}",
    ]
    for hidden, folder in _hidden(layout):
        if folder:
            lines.append(f'mount -t tmpfs hidden "$R"{q(hidden)}')
        else:
            lines.append(f'mount --bind /dev/null "$R"{q(hidden)}')
    for mount in [*layout.extra, *layout.mounts]:
        opts = " -o ro" if mount.read_only else ""
        lines.append(
            f'mkdir -p "$R"{q(mount.target)} && mount --bind{opts} {q(mount.source)} '
            f'"$R"{q(mount.target)}'
        )
    lines.append(f'mount --bind {q(layout.hosts_file)} "$R/etc/hosts"')
    lines.append(
        f'chroot "$R" /bin/sh -c \'cd "$0" && "$@"; exit $?\' {q(layout.workdir)} '
        + " ".join(q(a) for a in argv)
    )
    script = "\n".join(lines)
    return [
        unshare,
        "--mount",
        "--pid",
        "--uts",
        "--ipc",
        "--fork",
        "--kill-child",
        "/bin/sh",
        "-c",
        script,
    ]


def enter_argv(
    target_pid: int, argv: Sequence[str], env: Mapping[str, str], workdir: str
) -> list[str]:
    """Return the command that runs `argv` inside the namespaces of process `target_pid`
    (a process of a running container), with exactly `env` and in `workdir`.

    The working directory is changed inside the container's root: nsenter's ``--wd`` opens
    its directory before entering the namespaces (a host folder), and ``--wdns`` is only in
    newer util-linux."""
    pairs = [f"{k}={v}" for k, v in env.items()]
    return [
        "nsenter",
        "--target",
        str(target_pid),
        "--mount",
        "--pid",
        "--uts",
        "--ipc",
        "--root",
        "--",
        "/usr/bin/env",
        "-i",
        *pairs,
        "/bin/sh",
        "-c",
        'cd "$0" && exec "$@"',
        workdir,
        *argv,
    ]
