"""Figures of kubesim's local runtime (asserts nothing).

    .venv/bin/python bench/kubesim_runtime.py [--pods 30] [--requests 300] [--speed 10]

Prints: local pods started per second and create -> Running p50/p99 (a burst of pods,
each a real sleeping process); requests/s and latency through the API server's service
proxy against the pod address directly, in the same run (sequential requests, one
client); the HPA's reaction time to a load step (from the first busy request to a higher
desiredReplicas, and to the new pod being ready).  Simulated steps (sandbox creation,
container create) and the HPA's sync period are divided by --speed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request

from kubernetes import client

from kubesim.runtime.options import RuntimeOptions
from kubesim.server import KubeSim

SERVER = r"""
import http.server, os, threading, time
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
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        if self.path == "/busy": busy.set()
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), H).serve_forever()
"""


def api_for(sim: KubeSim) -> client.ApiClient:
    cfg = client.Configuration()
    cfg.host = sim.url
    cfg.api_key = {"authorization": f"Bearer {sim.token}"}
    return client.ApiClient(cfg)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_starts(core: client.CoreV1Api, count: int) -> None:
    core.create_namespace({"metadata": {"name": "starts"}})
    created: dict[str, float] = {}
    t0 = time.monotonic()
    for i in range(count):
        name = f"p{i}"
        created[name] = time.monotonic()
        core.create_namespaced_pod(
            "starts",
            {
                "metadata": {"name": name},
                "spec": {
                    "containers": [
                        {"name": "main", "image": "python:3.11", "command": ["sleep", "60"]}
                    ]
                },
            },
        )
    running: dict[str, float] = {}
    while len(running) < count and time.monotonic() - t0 < 120:
        for pod in core.list_namespaced_pod("starts").items:
            if pod.status.phase == "Running" and pod.metadata.name not in running:
                running[pod.metadata.name] = time.monotonic()
        time.sleep(0.02)
    took = max(running.values()) - t0
    lat = [running[n] - created[n] for n in running]
    print(
        f"local pods: {len(running)} started in {took:.2f} s = {len(running) / took:.1f} pods/s; "
        f"create -> Running p50 {pct(lat, 0.5) * 1000:.0f} ms, p99 {pct(lat, 0.99) * 1000:.0f} ms"
    )
    core.delete_namespace("starts")


def deploy(apps: client.AppsV1Api, core: client.CoreV1Api, ns: str, cpu: str) -> None:
    core.create_namespace({"metadata": {"name": ns}})
    container = {
        "name": "web",
        "image": "python:3.11",
        "command": ["python", "-c", SERVER],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        "resources": {"requests": {"cpu": cpu}},
    }
    apps.create_namespaced_deployment(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [container]},
                },
            },
        },
    )
    core.create_namespaced_service(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "web", "port": 80, "targetPort": 8080}],
            },
        },
    )
    while True:
        ep = core.read_namespaced_endpoints("web", ns)
        if any(s.addresses for s in ep.subsets or []):
            return
        time.sleep(0.1)


def timed(url: str, headers: dict[str, str], count: int) -> list[float]:
    out = []
    for _ in range(count):
        start = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
            resp.read()
        out.append(time.perf_counter() - start)
    return out


def bench_proxy(sim: KubeSim, core: client.CoreV1Api, apps: client.AppsV1Api, count: int) -> None:
    deploy(apps, core, "proxy", "100m")
    ep = core.read_namespaced_endpoints("web", "proxy")
    ip = ep.subsets[0].addresses[0].ip
    auth = {"Authorization": f"Bearer {sim.token}"}
    proxied_url = f"{sim.url}/api/v1/namespaces/proxy/services/web:web/proxy/"
    timed(proxied_url, auth, 20)
    direct = timed(f"http://{ip}:8080/", {}, count)
    proxied = timed(proxied_url, auth, count)
    for label, values in (("direct to the pod", direct), ("service proxy", proxied)):
        print(
            f"{label}: {count / sum(values):.0f} req/s, p50 {pct(values, 0.5) * 1000:.2f} ms, "
            f"p99 {pct(values, 0.99) * 1000:.2f} ms"
        )
    print(f"proxy adds {(pct(proxied, 0.5) - pct(direct, 0.5)) * 1000:.2f} ms at p50")


def bench_hpa(sim: KubeSim, core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    deploy(apps, core, "hpa", "200m")
    scaling = client.AutoscalingV2Api(core.api_client)
    scaling.create_namespaced_horizontal_pod_autoscaler(
        "hpa",
        {
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 50},
                        },
                    }
                ],
            },
        },
    )
    time.sleep(3)
    auth = {"Authorization": f"Bearer {sim.token}"}
    t0 = time.monotonic()
    timed(f"{sim.url}/api/v1/namespaces/hpa/services/web:web/proxy/busy", auth, 1)
    decided = ready = None
    while time.monotonic() - t0 < 60 and ready is None:
        hpa = scaling.read_namespaced_horizontal_pod_autoscaler("web", "hpa")
        if decided is None and (hpa.status.desired_replicas or 1) > 1:
            decided = time.monotonic() - t0
        if (
            decided is not None
            and (apps.read_namespaced_deployment("web", "hpa").status.ready_replicas or 0) > 1
        ):
            ready = time.monotonic() - t0
        time.sleep(0.05)
    print(
        f"HPA load step: scale-up decided after {decided or float('nan'):.2f} s, a new pod ready "
        f"after {ready or float('nan'):.2f} s (sync period {15 / sim.speed:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--speed", type=float, default=10)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="kubesim-bench-")
    with KubeSim(speed=args.speed, runtime=RuntimeOptions(mode="local", root=root)) as sim:
        api = api_for(sim)
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        print(f"kubesim local runtime ({sim.runtime.isolation}), speed {args.speed}")
        bench_starts(core, args.pods)
        bench_proxy(sim, core, apps, args.requests)
        bench_hpa(sim, core, apps)


if __name__ == "__main__":
    main()
