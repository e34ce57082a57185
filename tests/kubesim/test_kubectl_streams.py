"""kubectl exec, cp and port-forward (kubectl 1.32 itself) into pods a runtime runs."""

from __future__ import annotations

import http.server
import re
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesim.server import KubeSim
from tests.kubesim.kubectl_run import exec_on_terminal, kubectl_path, run
from tests.kubesim.process_runtime import LABEL, ProcessRuntime

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSim]:
    path = tmp_path_factory.mktemp("kubectl-streams") / "kubeconfig"
    server = KubeSim(tls=True, kubeconfig=str(path), controllers=False).start()
    server.runtime = ProcessRuntime()  # type: ignore[attr-defined]
    server.call(server.store.runtimes.register, server.runtime)  # type: ignore[attr-defined]
    store = server.store
    for name, labels in (("box", {LABEL: "process"}), ("sim", {})):
        pod = {
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]},
        }
        server.call(lambda pod=pod: store.create("pods", pod, namespace="default"))
        server.call(
            lambda name=name: store.patch(
                "pods",
                name,
                {"status": {"phase": "Running"}},
                namespace="default",
                subresource="status",
            )
        )
    yield server
    server.stop()


def _kubectl(sim: KubeSim, *args: str, stdin: str | None = None, check: bool = False):
    return run(sim.kubeconfig_path or "", *args, stdin=stdin, check=check)


def test_exec_with_stdin_and_exit_code(sim: KubeSim) -> None:
    script = "read line; echo got $line; echo oops >&2; exit 3"
    proc = _kubectl(sim, "exec", "-i", "box", "--", "sh", "-c", script, stdin="hello\n")
    assert proc.stdout == "got hello\n"
    assert "oops" in proc.stderr and "command terminated with exit code 3" in proc.stderr
    assert proc.returncode == 3
    ok = _kubectl(sim, "exec", "box", "-c", "main", "--", "echo", "fine", check=True)
    assert ok.stdout == "fine\n"


def test_exec_into_a_simulated_pod_says_so(sim: KubeSim) -> None:
    proc = _kubectl(sim, "exec", "sim", "--", "true")
    assert proc.returncode != 0
    assert 'pod "sim" is simulated by kubesim: it runs no processes' in proc.stderr


def test_cp_to_and_from_a_pod(sim: KubeSim, tmp_path: Path) -> None:
    src = tmp_path / "model.txt"
    src.write_text("weights\n")
    inside = tmp_path / "in-pod"
    inside.mkdir()
    _kubectl(sim, "cp", str(src), f"box:{inside}/model.txt", check=True)
    assert (inside / "model.txt").read_text() == "weights\n"
    back = tmp_path / "back.txt"
    _kubectl(sim, "cp", f"box:{inside}/model.txt", str(back), check=True)
    assert back.read_text() == "weights\n"


def test_exec_with_a_terminal_sends_its_size_and_exit_code(sim: KubeSim) -> None:
    code, text = exec_on_terminal(
        sim,
        "box",
        "read x; stty size; echo got-$x; exit 4",
        size=(40, 100),
        answer=b"hello\r",
        settle=1.0,
    )
    assert code == 4
    assert "40 100" in text and "got-hello" in text
    assert (100, 40) in sim.runtime.resizes  # type: ignore[attr-defined]


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_port_forward_carries_http_to_the_pod(sim: KubeSim) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    remote = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    args = [kubectl_path(), "--kubeconfig", sim.kubeconfig_path or ""]
    forward = subprocess.Popen(
        [*args, "port-forward", "pod/box", f":{remote}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
        assert match, line + (forward.stderr.read() if forward.poll() is not None else "")
        assert int(match.group(2)) == remote
        local = int(match.group(1))
        for path in ("/one", "/two"):  # each connection is a new pair of streams
            with urllib.request.urlopen(f"http://127.0.0.1:{local}{path}", timeout=10) as resp:
                assert resp.read() == f"hello from {path}".encode()
    finally:
        forward.terminate()
        forward.wait(10)
        server.shutdown()


def test_port_forward_to_a_closed_port_reports_the_error(sim: KubeSim) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    args = [kubectl_path(), "--kubeconfig", sim.kubeconfig_path or ""]
    forward = subprocess.Popen(
        [*args, "port-forward", "pod/box", f":{closed}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert forward.stdout is not None
        match = re.search(r"127\.0\.0\.1:(\d+) ->", forward.stdout.readline())
        assert match
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/", timeout=10).read()
    finally:
        forward.terminate()
        _, err = forward.communicate(timeout=10)
    assert f"error forwarding port {closed} to pod box" in err
