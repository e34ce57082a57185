"""Scale benchmark for kubesim's simulation (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/kubesim_scale.py [--nodes 5000 --pods 150000 --speed 10]

Loads a cluster of --nodes nodes with --pods long-running pods through the in-process store
(the way a fast client would, in batches on the loop thread), while the simulated scheduler
and kubelets bind and start them. Then measures, over HTTP: full and label-selected pod list
latency (median, p99) and watch events per second delivered to one client.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from kubesim.server import KubeSim


def rss_mib() -> float:
    """Return this process's resident set size in MiB (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pod(i: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"bench-{i}",
            "labels": {"app": "bench", "shard": str(i % 100)},
            "annotations": {"kubesim.io/run-forever": "true"},
        },
        "spec": {
            "restartPolicy": "Always",
            "containers": [
                {
                    "name": "main",
                    "image": "busybox:1.36",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ],
        },
    }


def http_get(sim: KubeSim, path: str) -> tuple[float, int]:
    """GET `path`; return (seconds, bytes)."""
    url = urlsplit(sim.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    start = time.perf_counter()
    conn.request(
        "GET", path, headers={"Authorization": f"Bearer {sim.token}", "Accept": "application/json"}
    )
    body = conn.getresponse().read()
    took = time.perf_counter() - start
    conn.close()
    return took, len(body)


def latency(sim: KubeSim, path: str, runs: int) -> str:
    times = []
    size = 0
    for _ in range(runs):
        took, size = http_get(sim, path)
        times.append(took)
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    return (
        f"median {statistics.median(times) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"({runs} runs, {size / 1e6:.1f} MB)"
    )


def watch_rate(sim: KubeSim, count: int) -> float:
    """Patch `count` pods and return watch events/s received by one HTTP watcher."""
    rv = sim.call(lambda: sim.store.resource_version)
    url = urlsplit(sim.url)
    received = 0
    first = last = 0.0
    opened = threading.Event()

    def reader() -> None:
        nonlocal received, first, last
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        conn.request(
            "GET",
            f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}"
            "&allowWatchBookmarks=false",
            headers={"Authorization": f"Bearer {sim.token}"},
        )
        resp = conn.getresponse()
        opened.set()
        while received < count:
            line = resp.fp.readline()
            if not line:
                break
            if b'"MODIFIED"' in line[:40]:
                received += 1
                last = time.perf_counter()
                if received == 1:
                    first = last
        conn.close()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    opened.wait(30)
    start = time.perf_counter()
    batch = 2000

    def touch(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            sim.store.patch(
                "pods",
                f"bench-{i}",
                {"metadata": {"labels": {"touched": "1"}}},
                namespace="default",
            )

    for lo in range(0, count, batch):
        sim.call(touch, lo, min(count, lo + batch))
    thread.join(600)
    span = max(last - start, 1e-9)
    return received / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--watch-events", type=int, default=50_000)
    args = parser.parse_args()

    base = rss_mib()
    sim = KubeSim(
        port=0, nodes=f"cpu={args.nodes}x32c128g", speed=args.speed, history_size=100_000
    ).start()
    print(
        f"cluster: {args.nodes} nodes, speed {args.speed}; RSS after nodes "
        f"{rss_mib():.0f} MiB (baseline {base:.0f} MiB)"
    )
    scheduler = sim.controllers.get("scheduler")

    def create(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            sim.store.create("pods", pod(i), namespace="default")

    start = time.perf_counter()
    for lo in range(0, args.pods, 1000):
        sim.call(create, lo, min(args.pods, lo + 1000))
    created = time.perf_counter() - start
    while sim.call(lambda: scheduler.bound_total) < args.pods:
        time.sleep(0.05)
        if time.perf_counter() - start > 1800:
            break
    bound = time.perf_counter() - start
    n_bound = sim.call(lambda: scheduler.bound_total)
    print(
        f"created {args.pods} pods in {created:.1f}s ({args.pods / created:.0f} pods/s, "
        "scheduler and kubelets running concurrently)"
    )
    print(
        f"scheduled {n_bound} pods {bound:.1f}s after the first create "
        f"({n_bound / bound:.0f} pods/s end to end)"
    )

    def running() -> int:
        items, _ = sim.store.list(
            "pods", namespace="default", field_selector="status.phase=Running"
        )
        return len(items)

    deadline = time.perf_counter() + 600
    while sim.call(running) < args.pods and time.perf_counter() < deadline:
        time.sleep(1)
    started = time.perf_counter() - start
    print(f"all pods Running {started:.1f}s after the first create ({sim.call(running)} running)")
    counts = sim.call(lambda: sim.store.counts())
    print(f"objects: {json.dumps(counts)}")
    print(f"RSS with everything loaded: {rss_mib():.0f} MiB")

    print("list pods (all):          " + latency(sim, "/api/v1/pods", 5))
    print(
        "list pods (label shard=7): "
        + latency(sim, "/api/v1/namespaces/default/pods?labelSelector=shard%3D7", 20)
    )
    print("list nodes (all):         " + latency(sim, "/api/v1/nodes", 5))
    count = min(args.watch_events, args.pods)
    print(
        f"watch: {watch_rate(sim, count):.0f} events/s delivered to one HTTP client "
        f"({count} MODIFIED events)"
    )
    sim.stop()


if __name__ == "__main__":
    main()
