"""What the local runtime was started with, and whether this machine can run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .imagemap import ImageMap

MODES = ("local", "simulate")
SANDBOX_PYTHON = Path(".venv-sandbox") / "bin" / "python"


class RuntimeUnavailable(Exception):
    """The local runtime cannot run on this machine; the message says why in one sentence."""


@dataclass
class RuntimeOptions:
    """Options of the local runtime.

    ``python`` is the interpreter that ``python`` means inside a container; ``root`` the
    folder holding pod volumes and claims (a temporary one when empty); ``hide`` the host
    folders a container must not see (replaced by empty ones inside it).
    """

    mode: str = "simulate"
    python: str = ""
    images: ImageMap = field(default_factory=ImageMap)
    root: str = ""
    hide: tuple[str, ...] = ()
    isolation: str = ""  # "bwrap" or "unshare", found by check()

    @property
    def local(self) -> bool:
        """Return True when containers of mapped images run as local processes."""
        return self.mode == "local"


def default_python() -> str:
    """Return `.venv-sandbox/bin/python` when it exists (from the current folder), else
    this interpreter."""
    candidate = SANDBOX_PYTHON.absolute()
    return str(candidate) if candidate.exists() else sys.executable


def _works(argv: list[str]) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == b"ok"


def find_isolation() -> str:
    """Return "bwrap" or "unshare", whichever makes a mount and PID namespace here.

    Raises RuntimeUnavailable when neither does.
    """
    probe = ["/bin/sh", "-c", "echo ok"]
    bwrap = shutil.which("bwrap")
    if bwrap and _works(
        [bwrap, "--die-with-parent", "--unshare-pid", "--dev-bind", "/", "/", "--proc", "/proc"]
        + probe
    ):
        return "bwrap"
    unshare = shutil.which("unshare")
    if unshare and _works([unshare, "--mount", "--pid", "--fork", "--mount-proc", *probe]):
        return "unshare"
    raise RuntimeUnavailable(
        "the local runtime needs a mount and PID namespace for each container, and neither "
        "bubblewrap (bwrap) nor unshare could make one on this machine (install the Debian "
        "package bubblewrap, or run as root)"
    )


def prepare(options: RuntimeOptions) -> RuntimeOptions:
    """Return `options` ready to run: isolation found, interpreter and root folder set.

    Raises RuntimeUnavailable (local mode only) when no namespace can be made.
    """
    if options.mode not in MODES:
        raise ValueError(f"--runtime must be one of {', '.join(MODES)}, got {options.mode!r}")
    if not options.local:
        return options
    options.isolation = options.isolation or find_isolation()
    options.python = options.python or default_python()
    if not options.root:
        options.root = tempfile.mkdtemp(prefix="kubesim-runtime-")
    os.makedirs(options.root, exist_ok=True)
    options.images = options.images.with_frameworks(options.python)
    return options
