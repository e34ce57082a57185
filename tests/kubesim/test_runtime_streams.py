"""exec, cp and port-forward into real pods of the local runtime, with the official client
and kubectl 1.32.

One kubesim with ``--runtime local`` (TLS, so kubectl sends its token) runs one pod: a
Python HTTP server bound to its pod address, with an emptyDir at /work that only the
container sees, so a command that finds it there really ran in the container.
"""

from __future__ import annotations

import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.stream import portforward, stream

from kubesim.runtime.options import RuntimeOptions
from kubesim.server import KubeSim
from tests.kubesim.kubectl_run import exec_on_terminal, kubectl_path, run

from .conftest import make_client
from .test_runtime_local import wait_for

NS = "default"
POD = "web"
PORT = 8080
SERVER = (
    "import http.server, os\n"
    "open('/work/marker', 'w').write('from the container\\n')\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = ('hello from ' + self.path + ' at ' + os.environ['POD_IP']).encode()\n"
    "        self.send_response(200)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *args):\n"
    "        pass\n"
    f"http.server.HTTPServer((os.environ['POD_IP'], {PORT}), H).serve_forever()\n"
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSim]:
    folder = tmp_path_factory.mktemp("runtime-streams")
    server = KubeSim(
        tls=True,
        kubeconfig=str(folder / "kubeconfig"),
        speed=10,
        runtime=RuntimeOptions(mode="local", root=str(folder / "root")),
    ).start()
    core = client.CoreV1Api(make_client(server))
    core.create_namespaced_pod(
        NS,
        {
            "metadata": {"name": POD},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "python:3.11-slim",
                        "command": ["python", "-c", SERVER],
                        "env": [
                            {
                                "name": "POD_IP",
                                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                            }
                        ],
                        "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                        "readinessProbe": {
                            "tcpSocket": {"port": PORT},
                            "periodSeconds": 1,
                        },
                    }
                ],
                "volumes": [{"name": "work", "emptyDir": {}}],
            },
        },
    )

    def ready() -> bool:
        status = core.read_namespaced_pod(POD, NS).status
        return bool(status.container_statuses) and status.container_statuses[0].ready

    wait_for(ready, timeout=60)
    yield server
    server.stop()


@pytest.fixture
def core(sim: KubeSim) -> client.CoreV1Api:
    return client.CoreV1Api(make_client(sim))


def _kubectl(sim: KubeSim, *args: str, stdin: str | None = None, check: bool = False):
    return run(sim.kubeconfig_path or "", *args, stdin=stdin, check=check)


def test_exec_runs_in_the_container_with_stdin_and_exit_code(core: client.CoreV1Api) -> None:
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        POD,
        NS,
        command=["sh", "-c", "read line; echo got $line; cat /work/marker; echo oops >&2; exit 3"],
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    resp.write_stdin("hello\n")
    out, err = "", ""
    while resp.is_open():
        resp.update(timeout=5)
        out += resp.read_stdout() if resp.peek_stdout() else ""
        err += resp.read_stderr() if resp.peek_stderr() else ""
    assert out == "got hello\nfrom the container\n" and err == "oops\n"
    assert resp.returncode == 3
    ip = core.read_namespaced_pod(POD, NS).status.pod_ip
    env = stream(
        core.connect_get_namespaced_pod_exec,
        POD,
        NS,
        command=["sh", "-c", "echo $POD_IP; hostname"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    assert env == f"{ip}\n{POD}\n"


def test_official_port_forward_reaches_the_server_on_the_pod_address(
    core: client.CoreV1Api,
) -> None:
    ip = core.read_namespaced_pod(POD, NS).status.pod_ip
    assert ip.startswith("127.") and ip != "127.0.0.1"
    forward = portforward(core.connect_get_namespaced_pod_portforward, POD, NS, ports=str(PORT))
    sock = forward.socket(PORT)
    sock.setblocking(True)
    sock.sendall(b"GET /tunnel HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n")
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.0 200") or reply.startswith(b"HTTP/1.1 200"), reply
    assert reply.endswith(f"hello from /tunnel at {ip}".encode())
    assert forward.error(PORT) is None


@pytest.mark.kubectl
def test_kubectl_exec_with_stdin_and_exit_code(sim: KubeSim) -> None:
    script = "read line; echo got $line; cat /work/marker; exit 5"
    proc = _kubectl(sim, "exec", "-i", POD, "--", "sh", "-c", script, stdin="hi\n")
    assert proc.stdout == "got hi\nfrom the container\n"
    assert "command terminated with exit code 5" in proc.stderr
    assert proc.returncode == 5


@pytest.mark.kubectl
def test_kubectl_cp_to_and_from_a_container_volume(sim: KubeSim, tmp_path: Path) -> None:
    src = tmp_path / "model.txt"
    src.write_text("weights\n")
    _kubectl(sim, "cp", str(src), f"{POD}:/work/model.txt", check=True)
    seen = _kubectl(sim, "exec", POD, "--", "cat", "/work/model.txt", check=True)
    assert seen.stdout == "weights\n"
    assert not Path("/work/model.txt").exists()  # it went into the pod's volume
    back = tmp_path / "marker.txt"
    _kubectl(sim, "cp", f"{POD}:/work/marker", str(back), check=True)
    assert back.read_text() == "from the container\n"


@pytest.mark.kubectl
def test_kubectl_exec_it_gets_a_terminal_of_its_size(sim: KubeSim) -> None:
    code, text = exec_on_terminal(
        sim,
        POD,
        "read x; stty size; test -t 0 && echo tty-$x; exit 4",
        size=(30, 90),
        answer=b"yes\r",
        settle=1.5,
    )
    assert code == 4
    assert "30 90" in text and "tty-yes" in text


@pytest.mark.kubectl
def test_kubectl_port_forward_carries_http_to_the_pod(sim: KubeSim) -> None:
    args = [kubectl_path(), "--kubeconfig", sim.kubeconfig_path or ""]
    forward = subprocess.Popen(
        [*args, "port-forward", f"pod/{POD}", f":{PORT}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
        assert match, line + (forward.stderr.read() if forward.poll() is not None else "")
        local = int(match.group(1))
        for path in ("/one", "/two"):
            with urllib.request.urlopen(f"http://127.0.0.1:{local}{path}", timeout=10) as resp:
                assert resp.read().startswith(f"hello from {path} at 127.".encode())
    finally:
        forward.terminate()
        forward.wait(10)


@pytest.mark.kubectl
def test_kubectl_attach_to_a_local_container_is_refused_clearly(sim: KubeSim) -> None:
    proc = _kubectl(sim, "attach", POD)
    assert proc.returncode != 0
    assert "not supported" in proc.stderr and "kubectl logs -f" in proc.stderr
