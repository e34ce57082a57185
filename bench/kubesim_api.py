"""Rough throughput figures for the kubesim API: bulk create, big list, watch delivery.

Run: ``.venv/bin/python bench/kubesim_api.py [--pods 150000] [--events 20000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
import urllib.request

from kubesim.server import KubeSim


def _get(sim: KubeSim, path: str) -> bytes:
    req = urllib.request.Request(sim.url + path, headers={"Authorization": f"Bearer {sim.token}"})
    with urllib.request.urlopen(req) as resp:
        return resp.read()


def main() -> None:
    """Print timings for creating/listing pods and streaming watch events."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=150_000)
    ap.add_argument("--events", type=int, default=20_000)
    args = ap.parse_args()
    sim = KubeSim(controllers=False, history_size=max(10_000, args.events)).start()
    pod = {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}

    def fill() -> None:
        for i in range(args.pods):
            sim.store.create(
                "pods", {**pod, "metadata": {"name": f"p{i}", "labels": {"job": f"j{i % 1000}"}}}
            )

    t = time.perf_counter()
    sim.call(fill)
    print(f"store.create x{args.pods}: {time.perf_counter() - t:.2f}s")
    t = time.perf_counter()
    body = _get(sim, "/api/v1/pods")
    print(f"GET list of {args.pods} pods: {time.perf_counter() - t:.2f}s ({len(body) >> 20} MiB)")
    t = time.perf_counter()
    _get(sim, "/api/v1/namespaces/default/pods?labelSelector=job%3Dj7")
    print(f"label-selected list: {(time.perf_counter() - t) * 1000:.1f}ms")
    rv = sim.store.resource_version
    got = threading.Event()
    count = [0]

    def watch() -> None:
        req = urllib.request.Request(
            f"{sim.url}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}",
            headers={"Authorization": f"Bearer {sim.token}"},
        )
        with urllib.request.urlopen(req) as resp:
            for _line in resp:
                count[0] += 1
                if count[0] >= args.events:
                    got.set()
                    return

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    time.sleep(0.2)
    t = time.perf_counter()

    async def burst() -> None:
        # Yield now and then, as real clients' requests would, so the watch can drain.
        for i in range(args.events):
            sim.store.create("configmaps", {"metadata": {"name": f"c{i}"}})
            if i % 1000 == 999:
                await asyncio.sleep(0)

    asyncio.run_coroutine_threadsafe(burst(), sim._loop).result()
    got.wait(60)
    dt = time.perf_counter() - t
    print(f"watch: {count[0]} events in {dt:.2f}s = {count[0] / dt:,.0f} events/s")
    sim.stop()


if __name__ == "__main__":
    main()
