"""Fault injection (errors, dropped watches, compaction) and restarts."""

from __future__ import annotations

import json
import threading

import pytest
import urllib3
from kubernetes import client, watch

from kubesim.server import KubeSim


def _codes(core: client.CoreV1Api, n: int) -> list[int]:
    codes = []
    for _ in range(n):
        try:
            core.list_namespace()
            codes.append(200)
        except client.ApiException as exc:
            codes.append(exc.status)
            if exc.status == 429:
                assert exc.headers["Retry-After"] == "1"
    return codes


def test_error_rate_and_code(fresh_kubesim: KubeSim, client_for) -> None:
    api = client_for(fresh_kubesim, retries=False)
    core = client.CoreV1Api(api)
    fresh_kubesim.faults.error_rate = 1.0
    assert set(_codes(core, 5)) == {500}
    fresh_kubesim.faults.error_code = 429
    assert set(_codes(core, 5)) == {429}
    fresh_kubesim.faults.error_rate = 0.5
    codes = _codes(core, 200)
    assert 20 < codes.count(429) < 180 and codes.count(200) + codes.count(429) == 200
    fresh_kubesim.faults.reset()
    assert set(_codes(core, 5)) == {200}
    api.close()


def test_faults_over_http(fresh_kubesim: KubeSim) -> None:
    http = urllib3.PoolManager()
    headers = {"Authorization": f"Bearer {fresh_kubesim.token}", "Content-Type": "application/json"}
    url = f"{fresh_kubesim.url}/kubesim/faults"
    resp = http.request(
        "POST", url, body=json.dumps({"error_rate": 0.25, "latency_ms": 1}), headers=headers
    )
    assert resp.status == 200 and json.loads(resp.data)["error_rate"] == 0.25
    assert fresh_kubesim.faults.error_rate == 0.25
    assert http.request("POST", url, body=b"{}").status == 401
    bad = http.request("POST", url, body=json.dumps({"nope": 1}), headers=headers)
    assert bad.status == 400
    http.request("POST", url, body=json.dumps({"reset": True}), headers=headers)
    stats = json.loads(
        http.request("GET", f"{fresh_kubesim.url}/kubesim/stats", headers=headers).data
    )
    assert stats["objects"]["namespaces"] == 4 and stats["requests"]["POST"] >= 3


def test_drop_watches_and_drop_after(fresh_kubesim: KubeSim, client_for) -> None:
    api = client_for(fresh_kubesim)
    core = client.CoreV1Api(api)
    for i in range(10):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
    fresh_kubesim.faults.drop_watch_after = 3
    resp = core.list_namespaced_config_map("default", watch=True, _preload_content=False)
    lines = [ln for ln in resp.read().decode().splitlines() if ln]
    assert len(lines) == 3
    fresh_kubesim.faults.drop_watch_after = 0
    opened = threading.Event()
    done: list[int] = []

    def consume() -> None:
        w = watch.Watch()
        n = 0
        r = core.list_namespaced_config_map("default", watch=True, _preload_content=False)
        opened.set()
        for _ in r.stream():
            n += 1
        done.append(n)
        del w

    t = threading.Thread(target=consume)
    t.start()
    opened.wait(5)
    for _ in range(50):
        if fresh_kubesim.stats()["watchers"]:
            break
        threading.Event().wait(0.02)
    assert fresh_kubesim.call(fresh_kubesim.faults.drop_watches) == 1
    t.join(5)
    assert done, "stream should end after drop_watches()"
    api.close()


def test_compact_gives_410(fresh_kubesim: KubeSim, client_for) -> None:
    api = client_for(fresh_kubesim)
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", {"metadata": {"name": "after"}})
    fresh_kubesim.call(fresh_kubesim.faults.compact)
    with pytest.raises(client.ApiException) as err:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
        ):
            pass
    assert err.value.status == 410
    api.close()


def test_restart_keeps_or_wipes_state(fresh_kubesim: KubeSim, client_for) -> None:
    api = client_for(fresh_kubesim)
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("default", {"metadata": {"name": "survivor"}})
    port = fresh_kubesim.port
    fresh_kubesim.restart(keep_state=True)
    assert fresh_kubesim.port == port
    assert core.read_namespaced_config_map("survivor", "default").metadata.name == "survivor"
    fresh_kubesim.restart(keep_state=False)
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("survivor", "default")
    assert err.value.status == 404
    api.close()
