"""Running the real kubectl against a simulator; shared by the kubectl-driven test modules."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import termios
import time

import pytest

from kubesim.server import KubeSim

MISSING = (
    "kubectl is not installed: the kubesim tests drive the real kubectl (1.32); install it "
    "on the PATH (scripts/test.sh installs it when missing) rather than skip these tests"
)


def kubectl_path() -> str:
    """Return the kubectl on the PATH; fail the test (never skip) when there is none."""
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail(MISSING, pytrace=False)
    return path


def run(
    kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run kubectl with ``kubeconfig``; with ``check`` fail the test on a non-zero exit."""
    proc = subprocess.run(
        [kubectl_path(), "--kubeconfig", kubeconfig, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc


def kubectl(sim: KubeSim, *args: str, stdin: str | None = None) -> str:
    """Run kubectl against ``sim`` (its own kubeconfig); return stdout, failing on an error."""
    assert sim.kubeconfig_path, "the simulator was started without a kubeconfig"
    return run(sim.kubeconfig_path, *args, stdin=stdin).stdout


def exec_on_terminal(
    sim: KubeSim, pod: str, script: str, *, size: tuple[int, int], answer: bytes, settle: float
) -> tuple[int, str]:
    """Runs ``kubectl exec -it POD -- sh -c SCRIPT`` on a pseudo-terminal of ``size`` (rows,
    columns), types ``answer`` after ``settle`` seconds; returns (exit code, what it showed)."""
    master, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    args = [kubectl_path(), "--kubeconfig", sim.kubeconfig_path or ""]
    proc = subprocess.Popen(
        [*args, "exec", "-it", pod, "--", "sh", "-c", script],
        stdin=child,
        stdout=child,
        stderr=child,
        start_new_session=True,
    )
    os.close(child)
    time.sleep(settle)
    os.write(master, answer)
    out = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(10), out.decode(errors="replace")
