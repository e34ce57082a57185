"""exec and port-forward with the official client, through a runtime that runs processes.

The runtime (tests/kubesim/process_runtime.py) stands in for the local runtime.
"""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import orjson
import pytest
from kubernetes import client
from kubernetes.stream import portforward, stream

from kubesim.server import KubeSim
from tests.kubesim.process_runtime import LABEL, ProcessRuntime


@pytest.fixture
def running_pod(bare_kubesim: KubeSim, bare_namespace: str) -> Iterator[tuple[str, str]]:
    runtime = ProcessRuntime()
    bare_kubesim.call(bare_kubesim.store.runtimes.register, runtime)
    name = f"p-{uuid.uuid4().hex[:6]}"
    pod = {
        "metadata": {"name": name, "labels": {LABEL: "process"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    store = bare_kubesim.store
    bare_kubesim.call(lambda: store.create("pods", pod, namespace=bare_namespace))
    bare_kubesim.call(
        lambda: store.patch(
            "pods",
            name,
            {"status": {"phase": "Running"}},
            namespace=bare_namespace,
            subresource="status",
        )
    )
    yield bare_namespace, name
    bare_kubesim.call(store.runtimes.unregister, runtime)


def test_exec_with_stdin_and_exit_codes(bare_api_client, running_pod) -> None:
    ns, name = running_pod
    core = client.CoreV1Api(bare_api_client)
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        name,
        ns,
        command=["sh", "-c", "read line; echo got $line; echo oops >&2; exit 3"],
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
    assert out == "got hello\n" and err == "oops\n"
    assert resp.returncode == 3
    ok = stream(
        core.connect_get_namespaced_pod_exec,
        name,
        ns,
        command=["echo", "fine"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    assert ok == "fine\n"


def test_port_forward_carries_http_to_the_pod(bare_api_client, running_pod) -> None:
    ns, name = running_pod

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            body = b"hello through the tunnel"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hello)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        core = client.CoreV1Api(bare_api_client)
        pf = portforward(core.connect_get_namespaced_pod_portforward, name, ns, ports=str(port))
        sock = pf.socket(port)
        sock.settimeout(10)
        sock.sendall(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        sock.close()
        assert data.startswith(b"HTTP/1.0 200") and data.endswith(b"hello through the tunnel")
        assert pf.error(port) is None
    finally:
        server.shutdown()


def test_exec_into_a_simulated_pod_says_so(bare_api_client, bare_kubesim, bare_namespace) -> None:
    store = bare_kubesim.store
    pod = {"metadata": {"name": "sim"}, "spec": {"containers": [{"name": "main", "image": "x"}]}}
    bare_kubesim.call(lambda: store.create("pods", pod, namespace=bare_namespace))
    url = (
        f"{bare_kubesim.url}/api/v1/namespaces/{bare_namespace}/pods/sim/exec"
        "?command=true&stdout=true"
    )
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {bare_kubesim.token}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    status = orjson.loads(err.value.read())
    assert err.value.code == 400 and status["kind"] == "Status" and status["code"] == 400
    assert status["message"].startswith('pod "sim" is simulated by kubesim: it runs no processes')
    # The official client sees the refused upgrade as an error too.
    core = client.CoreV1Api(bare_api_client)
    with pytest.raises((client.ApiException, AttributeError)):
        stream(
            core.connect_get_namespaced_pod_exec,
            "sim",
            bare_namespace,
            command=["true"],
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
        )
