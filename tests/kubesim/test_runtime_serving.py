"""The local runtime serving traffic: pod addresses, readiness, endpoints, the API server's
service and pod proxy (client and ``kubectl get --raw``), ``kubectl top`` and the HPA."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from kubesim.runtime.options import RuntimeOptions
from kubesim.server import KubeSim

from .conftest import make_client
from .test_runtime_local import PY, wait_for

SPEED = 10
KUBECTL = "/usr/bin/kubectl"

# A small HTTP server bound to the pod's own address; it answers with its pod name and
# echoes request bodies; /busy burns CPU for the HPA test.
SERVER = r"""
import http.server, os, socketserver, sys, threading, time
busy = threading.Event()
def burn():
    while True:
        if busy.is_set():
            end = time.time() + 0.1
            while time.time() < end: pass
        else:
            time.sleep(0.05)
threading.Thread(target=burn, daemon=True).start()
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, body, code=200):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("X-Pod", os.environ["POD"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.startswith("/busy"):
            busy.set()
        if self.path.startswith("/idle"):
            busy.clear()
        self.reply(os.environ["POD"].encode())
    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.reply(b"echo:" + data + b":" + self.headers.get("X-Test", "").encode(), 201)
    def log_message(self, *args):
        print("request", self.path, flush=True)
socketserver.ThreadingTCPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), H).serve_forever()
"""


@pytest.fixture(scope="module")
def serving_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSim]:
    root = tmp_path_factory.mktemp("runtime")
    kubeconfig = tmp_path_factory.mktemp("kc") / "kubeconfig"
    sim = KubeSim(
        speed=SPEED,
        tls=True,
        kubeconfig=str(kubeconfig),
        runtime=RuntimeOptions(mode="local", root=str(root)),
    )
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def apis(serving_sim: KubeSim) -> tuple[client.CoreV1Api, client.AppsV1Api]:
    api_client = make_client(serving_sim)
    return client.CoreV1Api(api_client), client.AppsV1Api(api_client)


@pytest.fixture
def ns(apis) -> str:
    name = f"srv-{uuid.uuid4().hex[:8]}"
    apis[0].create_namespace({"metadata": {"name": name}})
    return name


def kubectl(sim: KubeSim, *args: str) -> str:
    kubeconfig = sim.kubeconfig_path or ""
    # HOME beside the kubeconfig: kubectl keeps its discovery cache there, not in the tree.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "KUBECONFIG": kubeconfig,
        "HOME": os.path.dirname(kubeconfig),
    }
    done = subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def deployment(name: str, replicas: int = 1, cpu: str = "100m") -> dict[str, Any]:
    env = [
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    container = {
        "name": "web",
        "image": PY,
        "command": ["python", "-c", SERVER],
        "env": env,
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
        "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
            },
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
        },
    }


def ready_addresses(core: client.CoreV1Api, ns: str, name: str) -> list[str]:
    ep = core.read_namespaced_endpoints(name, ns)
    return sorted(a.ip for s in ep.subsets or [] for a in s.addresses or [])


def proxy_get(core: client.CoreV1Api, ns: str, name: str, path: str) -> tuple[int, str, dict]:
    resp = core.api_client.call_api(
        f"/api/v1/namespaces/{ns}/services/{name}:web/proxy/{path}",
        "GET",
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=False,
    )
    raw = resp[0] if isinstance(resp, tuple) else resp
    return raw.status, raw.data.decode(), dict(raw.headers)


def test_service_proxy_reaches_ready_pods_and_balances_over_three(serving_sim, apis, ns):
    core, apps = apis
    core.create_namespaced_service(ns, service("web"))
    with pytest.raises(client.ApiException) as caught:
        proxy_get(core, ns, "web", "")
    assert caught.value.status == 503
    assert json.loads(caught.value.body)["message"] == 'no endpoints available for service "web"'

    apps.create_namespaced_deployment(ns, deployment("web"))
    first = wait_for(lambda: ready_addresses(core, ns, "web"), timeout=30)
    assert len(first) == 1 and first[0].startswith("127.")
    status, body, headers = proxy_get(core, ns, "web", "hello?x=1")
    assert status == 200 and body.startswith("web-")
    assert headers["X-Pod"] == body

    # Any method, with body and headers, through the pod proxy too.
    pod_name = body
    posted = core.api_client.call_api(
        f"/api/v1/namespaces/{ns}/pods/{pod_name}:8080/proxy/echo",
        "POST",
        header_params={"X-Test": "passed", "Content-Type": "text/plain"},
        body="ping",
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=False,
    )
    posted = posted[0] if isinstance(posted, tuple) else posted
    assert (posted.status, posted.data) == (201, b"echo:ping:passed")

    # Direct to the pod address, as a process in the cluster would.
    with urllib.request.urlopen(f"http://{first[0]}:8080/") as direct:
        assert direct.read().decode() == pod_name

    raw = kubectl(serving_sim, "get", "--raw", f"/api/v1/namespaces/{ns}/services/web:web/proxy/")
    assert raw.startswith("web-")

    apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 3}})
    wait_for(lambda: len(ready_addresses(core, ns, "web")) == 3, timeout=40)
    slices = (
        client.DiscoveryV1Api(core.api_client)
        .list_namespaced_endpoint_slice(ns, label_selector="kubernetes.io/service-name=web")
        .items
    )
    assert sum(1 for e in slices[0].endpoints if e.conditions.ready) == 3
    seen = {proxy_get(core, ns, "web", "")[1] for _ in range(9)}
    assert len(seen) == 3


def test_kubectl_top_pods_and_nodes(serving_sim, apis, ns):
    core, apps = apis
    apps.create_namespaced_deployment(ns, deployment("topped"))
    wait_for(
        lambda: any(p.status.phase == "Running" for p in core.list_namespaced_pod(ns).items),
        timeout=30,
    )
    time.sleep(2.5)  # two usage samples
    out = kubectl(serving_sim, "top", "pods", "-n", ns)
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    name, cpu, memory = lines[1].split()
    assert name.startswith("topped-") and cpu.endswith("m") and memory.endswith("Mi")
    assert int(memory[:-2]) >= 5  # a real Python process, not the idle figure of a simulation
    nodes = kubectl(serving_sim, "top", "nodes")
    assert nodes.splitlines()[0].split()[0] == "NAME"


def test_hpa_scales_a_cpu_busy_deployment_up_and_back_down(serving_sim, apis, ns):
    core, apps = apis
    apps.create_namespaced_deployment(ns, deployment("busy", cpu="200m"))
    core.create_namespaced_service(ns, service("busy"))
    wait_for(lambda: ready_addresses(core, ns, "busy"), timeout=30)
    scaling = client.AutoscalingV2Api(core.api_client)
    scaling.create_namespaced_horizontal_pod_autoscaler(
        ns,
        {
            "metadata": {"name": "busy"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "busy"},
                "minReplicas": 1,
                "maxReplicas": 2,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 50},
                        },
                    }
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}},
            },
        },
    )
    proxy_get(core, ns, "busy", "busy")  # one pod burns up to a core: over 110m asks for 2 pods
    up = wait_for(
        lambda: (
            (
                h := scaling.read_namespaced_horizontal_pod_autoscaler("busy", ns)
            ).status.desired_replicas
            == 2
            and h
        ),
        timeout=40,
    )
    conditions = {c.type: c for c in up.status.conditions}
    assert conditions["AbleToScale"].status == "True"
    assert conditions["ScalingActive"].reason == "ValidMetricFound"
    assert conditions["ScalingLimited"].status in ("True", "False")
    assert up.status.current_metrics[0].resource.current.average_utilization > 50
    wait_for(
        lambda: apps.read_namespaced_deployment("busy", ns).status.ready_replicas == 2, timeout=40
    )
    for _ in range(6):  # whichever pod burns, each hears /idle once the round robin turns
        proxy_get(core, ns, "busy", "idle")
    down = wait_for(
        lambda: (
            (
                h := scaling.read_namespaced_horizontal_pod_autoscaler("busy", ns)
            ).status.desired_replicas
            == 1
            and h
        ),
        timeout=40,
    )
    assert down.status.current_replicas in (1, 2)
    events = [
        e.message for e in core.list_namespaced_event(ns).items if e.reason == "SuccessfulRescale"
    ]
    assert any(m.startswith("New size: 2") for m in events)
    assert any(m.startswith("New size: 1") for m in events)
