"""Admission benchmark for kubesim's Kueue (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/kueue_admission.py [--jobs 10000 --queues 10 --steady 1000]

kubesim runs as its own process (``python -m kubesim``, as the sandbox runs it); this
script is only an HTTP client. It makes --queues ClusterQueues (each with a LocalQueue in
its own namespace) with no quota, creates --jobs queued Jobs across them (the webhook
suspends each and the controller gives it a Workload: all pending), then gives every
queue room for all of its jobs at once and times the admissions as a watch on Workloads
reports them (throughput, and the time from the quota change to each admission). Then,
with room to spare, it creates --steady more jobs one by one and times each from its
create to its Workload's Admitted condition (median, p99).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import yaml

G = "kueue.x-k8s.io/v1beta2"
BASE = f"/apis/{G}"


class Client:
    """A tiny JSON client on one persistent connection (one per thread)."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.token = parts.hostname, parts.port, token
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)

    def call(self, method: str, path: str, body: dict | None = None, ctype: str = "") -> dict:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = ctype or "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
        return json.loads(payload)


def cluster_queue(name: str, cpu: str) -> dict:
    return {
        "apiVersion": G,
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "namespaceSelector": {},
            "resourceGroups": [
                {
                    "coveredResources": ["cpu"],
                    "flavors": [
                        {"name": "default", "resources": [{"name": "cpu", "nominalQuota": cpu}]}
                    ],
                }
            ],
        },
    }


def job(name: str) -> dict:
    return {
        "metadata": {"name": name, "labels": {"kueue.x-k8s.io/queue-name": "queue"}},
        "spec": {
            "template": {
                "metadata": {"annotations": {"kubesim.io/run-forever": "true"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox",
                            "resources": {"requests": {"cpu": "1"}},
                        }
                    ],
                },
            }
        },
    }


class Watch(threading.Thread):
    """Follows every Workload; records when each was first seen admitted."""

    def __init__(self, url: str, token: str, rv: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.rv = url, token, rv
        self.admitted: dict[str, float] = {}
        self.by_job: dict[str, float] = {}  # Job uid -> when its Workload was admitted
        self.opened = threading.Event()

    def run(self) -> None:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=3600)
        conn.request(
            "GET",
            f"{BASE}/workloads?watch=1&resourceVersion={self.rv}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        resp = conn.getresponse()
        self.opened.set()
        while True:
            line = resp.fp.readline()
            if not line:
                return
            if b'"Admitted","status":"True"' not in line:
                continue
            now = time.perf_counter()
            obj = json.loads(line)["object"]
            key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            self.admitted.setdefault(key, now)
            job_uid = (obj["metadata"].get("labels") or {}).get("kueue.x-k8s.io/job-uid", "")
            self.by_job.setdefault(job_uid, now)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def start_kubesim(args: argparse.Namespace, folder: Path) -> tuple[subprocess.Popen, str, str]:
    kubeconfig = folder / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubesim",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
            "--nodes",
            args.nodes,
            "--speed",
            "10",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "kubesim listening on ..."
    config = yaml.safe_load(kubeconfig.read_text())
    return proc, config["clusters"][0]["cluster"]["server"], config["users"][0]["user"]["token"]


def pending_total(c: Client, queues: list[str]) -> int:
    return sum(
        (c.call("GET", f"{BASE}/clusterqueues/{q}").get("status") or {}).get("pendingWorkloads", 0)
        for q in queues
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--queues", type=int, default=10)
    parser.add_argument("--steady", type=int, default=1000)
    parser.add_argument("--nodes", default="cpu=40x256c1024g")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kueue-bench-"))
    proc, url, token = start_kubesim(args, folder)
    try:
        run(args, url, token)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run(args: argparse.Namespace, url: str, token: str) -> None:
    c = Client(url, token)
    c.call(
        "POST",
        f"{BASE}/resourceflavors",
        {"apiVersion": G, "kind": "ResourceFlavor", "metadata": {"name": "default"}},
    )
    queues = [f"cq-{i}" for i in range(args.queues)]
    for i, q in enumerate(queues):
        c.call("POST", f"{BASE}/clusterqueues", cluster_queue(q, "0"))
        c.call("POST", "/api/v1/namespaces", {"metadata": {"name": f"team-{i}"}})
        c.call(
            "POST",
            f"{BASE}/namespaces/team-{i}/localqueues",
            {
                "apiVersion": G,
                "kind": "LocalQueue",
                "metadata": {"name": "queue"},
                "spec": {"clusterQueue": q},
            },
        )
    rv = c.call("GET", f"{BASE}/workloads")["metadata"]["resourceVersion"]
    watcher = Watch(url, token, rv)
    watcher.start()
    watcher.opened.wait(30)

    local = threading.local()

    def create(i: int) -> None:
        if not hasattr(local, "c"):
            local.c = Client(url, token)
        local.c.call(
            "POST", f"/apis/batch/v1/namespaces/team-{i % args.queues}/jobs", job(f"job-{i}")
        )

    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(args.jobs)))
    created = time.perf_counter() - start
    while pending_total(c, queues) < args.jobs:
        time.sleep(0.2)
    queued = time.perf_counter() - start
    print(
        f"{args.jobs} queued Jobs across {args.queues} queues created in {created:.1f}s "
        f"({args.jobs / created:.0f}/s over HTTP, 4 clients); all {args.jobs} Workloads pending "
        f"{queued:.1f}s after the first create"
    )
    per_queue = -(-args.jobs // args.queues)
    t0 = time.perf_counter()
    for q in queues:
        c.call(
            "PATCH",
            f"{BASE}/clusterqueues/{q}",
            {
                "spec": {
                    "resourceGroups": cluster_queue(q, str(per_queue))["spec"]["resourceGroups"]
                }
            },
            "application/merge-patch+json",
        )
    while len(watcher.admitted) < args.jobs and time.perf_counter() - t0 < 600:
        time.sleep(0.05)
    times = [t - t0 for t in watcher.admitted.values()]
    span = max(times)
    print(
        f"quota for all opened: {len(times)} admissions in {span:.2f}s = "
        f"{len(times) / span:.0f} admissions/s (time from the quota change to each admission: "
        f"median {statistics.median(times):.2f}s, p99 {pct(times, 0.99):.2f}s)"
    )
    c.call("POST", f"{BASE}/clusterqueues", cluster_queue("steady", str(args.steady)))
    c.call("POST", "/api/v1/namespaces", {"metadata": {"name": "steady"}})
    c.call(
        "POST",
        f"{BASE}/namespaces/steady/localqueues",
        {
            "apiVersion": G,
            "kind": "LocalQueue",
            "metadata": {"name": "queue"},
            "spec": {"clusterQueue": "steady"},
        },
    )
    latencies = []
    for i in range(args.steady):
        sent = time.perf_counter()
        created = c.call("POST", "/apis/batch/v1/namespaces/steady/jobs", job(f"steady-{i}"))
        uid = created["metadata"]["uid"]
        while uid not in watcher.by_job:
            time.sleep(0.0005)
        latencies.append(watcher.by_job[uid] - sent)
    print(
        f"steady: {args.steady} Jobs one at a time, create → Admitted (watch): median "
        f"{statistics.median(latencies) * 1000:.1f} ms, p99 {pct(latencies, 0.99) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
