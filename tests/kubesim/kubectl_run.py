"""Running the real kubectl against a simulator; shared by the kubectl-driven test modules."""

from __future__ import annotations

import shutil
import subprocess

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
