"""The local runtime: real processes behind pods, over HTTP with the official client.

One kubesim per module runs with ``--runtime local`` (speed 10, so probe periods and
back-offs pass quickly); each test uses its own namespace.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from kubesim.runtime.options import RuntimeOptions
from kubesim.server import KubeSim

from .conftest import make_client

SPEED = 10
PY = "python:3.11-slim"


def wait_for(check: Callable[[], Any], timeout: float = 20, every: float = 0.1) -> Any:
    """Return the first truthy result of `check()`; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except client.ApiException as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"timed out; last: {last!r}")


@pytest.fixture(scope="module")
def local_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSim]:
    root = tmp_path_factory.mktemp("runtime")
    sim = KubeSim(speed=SPEED, runtime=RuntimeOptions(mode="local", root=str(root)))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def core(local_sim: KubeSim) -> client.CoreV1Api:
    return client.CoreV1Api(make_client(local_sim))


@pytest.fixture
def ns(core: client.CoreV1Api) -> str:
    name = f"rt-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def pod(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    containers = spec.pop("containers", None) or [
        {
            "name": "main",
            "image": spec.pop("image", PY),
            "command": command,
            **spec.pop("container", {}),
        }
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **spec.pop("metadata", {})},
        "spec": {"restartPolicy": "Never", "containers": containers, **spec},
    }


def logs(core: client.CoreV1Api, name: str, ns: str, **kw: Any) -> str:
    """Return the log text as served (the client's own decoding mangles plain text)."""
    return core.read_namespaced_pod_log(name, ns, _preload_content=False, **kw).data.decode()


def finished(core: client.CoreV1Api, ns: str, name: str, timeout: float = 30) -> Any:
    def done() -> Any:
        p = core.read_namespaced_pod(name, ns)
        return p if p.status.phase in ("Succeeded", "Failed") else None

    return wait_for(done, timeout)


def test_pod_prints_a_computed_value_and_exits_3(core, ns):
    core.create_namespaced_pod(
        ns, pod("calc", ["python", "-c", "import sys; print(sum(range(10))); sys.exit(3)"])
    )
    done = finished(core, ns, "calc")
    assert done.status.phase == "Failed"
    state = done.status.container_statuses[0].state.terminated
    assert (state.exit_code, state.reason) == (3, "Error")
    assert done.status.pod_ip.startswith("127.")
    assert logs(core, "calc", ns) == "45\n"
    stamped = logs(core, "calc", ns, timestamps=True)
    assert stamped.split(" ", 1)[1] == "45\n"
    reasons = {e.reason for e in core.list_namespaced_event(ns).items}
    assert "LocalRuntime" in reasons


def test_command_not_found_is_a_start_error_128(core, ns):
    core.create_namespaced_pod(ns, pod("nocmd", ["no-such-program-here"]))
    state = finished(core, ns, "nocmd").status.container_statuses[0].state.terminated
    assert (state.exit_code, state.reason) == (128, "StartError")
    assert "executable file not found" in state.message


def test_image_outside_the_map_is_simulated(core, ns):
    core.create_namespaced_pod(
        ns,
        pod(
            "sim",
            ["definitely-not-run"],
            image="example.com/app:1",
            metadata={"annotations": {"kubesim.io/duration": "0.5"}},
        ),
    )
    assert finished(core, ns, "sim").status.phase == "Succeeded"
    events = {e.reason: e.message for e in core.list_namespaced_event(ns).items}
    assert "not in the runtime's image map" in events["Simulated"]


def test_env_from_secret_configmap_and_downward_api(core, ns):
    core.create_namespaced_secret(
        ns, {"metadata": {"name": "creds"}, "data": {"token": base64.b64encode(b"s3cret").decode()}}
    )
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "settings"}, "data": {"mode": "fast", "level": "3"}}
    )
    env = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "GREETING", "value": "hi $(POD)"},
    ]
    script = (
        "import os; print(*[os.environ.get(k, '-') for k in "
        "('TOKEN', 'MODE', 'POD', 'NS', 'IP', 'GREETING', 'CFG_level', 'KUBESIM_TOKEN')])"
    )
    spec = pod(
        "env",
        ["python", "-c", script],
        container={
            "env": env,
            "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "settings"}}],
        },
    )
    core.create_namespaced_pod(ns, spec)
    done = finished(core, ns, "env")
    assert done.status.phase == "Succeeded"
    words = logs(core, "env", ns).split()
    assert words == ["s3cret", "fast", "env", ns, done.status.pod_ip, "hi", "env", "3", "-"]


def test_emptydir_shared_by_init_and_main_container(core, ns):
    spec = pod(
        "shared",
        [],
        volumes=[{"name": "work", "emptyDir": {}}],
        initContainers=[
            {
                "name": "prepare",
                "image": "busybox:1.36",
                "command": ["/bin/sh", "-c", "echo prepared-by-init > /work/note"],
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            }
        ],
        containers=[
            {
                "name": "main",
                "image": PY,
                "workingDir": "/work",
                "command": ["python", "-c", "print(open('note').read().strip())"],
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            }
        ],
    )
    core.create_namespaced_pod(ns, spec)
    done = finished(core, ns, "shared")
    assert done.status.phase == "Succeeded"
    assert logs(core, "shared", ns, container="main") == "prepared-by-init\n"


def test_pvc_written_by_one_pod_and_read_by_the_next(core, ns):
    core.create_namespaced_persistent_volume_claim(
        ns,
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    claim = wait_for(
        lambda: (
            (c := core.read_namespaced_persistent_volume_claim("data", ns)).status.phase == "Bound"
            and c
        )
    )
    assert claim.spec.storage_class_name == "standard"
    assert core.read_persistent_volume(claim.spec.volume_name).status.phase == "Bound"
    mounts = {"volumeMounts": [{"name": "d", "mountPath": "/data"}]}
    volumes = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    core.create_namespaced_pod(
        ns, pod("writer", ["sh", "-c", "echo 42 > /data/answer"], container=mounts, volumes=volumes)
    )
    assert finished(core, ns, "writer").status.phase == "Succeeded"
    core.create_namespaced_pod(
        ns, pod("reader", ["cat", "/data/answer"], container=mounts, volumes=volumes)
    )
    assert finished(core, ns, "reader").status.phase == "Succeeded"
    assert logs(core, "reader", ns) == "42\n"


def test_job_with_three_completions_of_real_processes(local_sim, core, ns):
    batch = client.BatchV1Api(make_client(local_sim))
    batch.create_namespaced_job(
        ns,
        {
            "metadata": {"name": "squares"},
            "spec": {
                "completions": 3,
                "parallelism": 3,
                "completionMode": "Indexed",
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "main",
                                "image": PY,
                                "command": [
                                    "python",
                                    "-c",
                                    "import os; i = int(os.environ['JOB_COMPLETION_INDEX']); print(i * i)",
                                ],
                            }
                        ],
                    }
                },
            },
        },
    )
    job = wait_for(
        lambda: (j := batch.read_namespaced_job("squares", ns)).status.succeeded == 3 and j,
        timeout=40,
    )
    assert job.status.succeeded == 3
    pods = core.list_namespaced_pod(ns, label_selector="job-name=squares").items
    outputs = sorted(logs(core, p.metadata.name, ns).strip() for p in pods)
    assert outputs == ["0", "1", "4"]


def test_memory_hog_is_oomkilled_137(core, ns):
    hog = pod(
        "hog",
        ["python", "-c", "x = bytearray(400 * 2**20); print('survived')"],
        container={"resources": {"limits": {"memory": "100Mi"}}},
    )
    core.create_namespaced_pod(ns, hog)
    state = finished(core, ns, "hog").status.container_statuses[0].state.terminated
    assert (state.exit_code, state.reason) == (137, "OOMKilled")


def test_liveness_failure_restarts_the_container(core, ns):
    probe = {
        "exec": {"command": ["test", "-e", "/tmp/healthy"]},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    # Healthy for about a second, then the file goes and the probe fails.
    script = "touch /tmp/healthy; echo up; sleep 1; rm /tmp/healthy; sleep 600"
    spec = pod(
        "lively",
        ["sh", "-c", script],
        restartPolicy="Always",
        terminationGracePeriodSeconds=1,
        container={"livenessProbe": probe},
    )
    core.create_namespaced_pod(ns, spec)
    restarted = wait_for(
        lambda: (
            (p := core.read_namespaced_pod("lively", ns)).status.container_statuses[0].restart_count
            >= 1
            and p
        ),
        timeout=30,
    )
    last = restarted.status.container_statuses[0].last_state.terminated
    assert last.exit_code == 137 or last.exit_code == 143
    events = [e.message for e in core.list_namespaced_event(ns).items if e.reason == "Killing"]
    assert any("failed liveness probe" in m for m in events)
    wait_for(lambda: logs(core, "lively", ns, previous=True) == "up\n")


def _pids_in(root: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if root.encode() in fh.read():
                        out.append(int(entry))
            except OSError:
                continue
    return out


def test_delete_sends_sigterm_then_sigkill_after_the_grace_period(core, ns, tmp_path):
    marker = tmp_path / "out"
    marker.mkdir()
    script = (
        "trap 'echo got-term >> /out/log' TERM; echo started >> /out/log; "
        "while true; do sleep 0.1; done"
    )
    spec = pod(
        "stubborn",
        ["sh", "-c", f"{script} # {tmp_path.name}"],
        terminationGracePeriodSeconds=2,
        volumes=[{"name": "out", "hostPath": {"path": str(marker)}}],
        container={"volumeMounts": [{"name": "out", "mountPath": "/out"}]},
    )
    core.create_namespaced_pod(ns, spec)
    wait_for(lambda: (marker / "log").exists())
    assert _pids_in(tmp_path.name)
    core.delete_namespaced_pod("stubborn", ns)
    wait_for(lambda: "got-term" in (marker / "log").read_text(), timeout=5)
    time.sleep(0.5)
    assert _pids_in(tmp_path.name), "killed before the grace period ended"
    wait_for(lambda: not _pids_in(tmp_path.name), timeout=10)


def test_stopping_kubesim_leaves_no_process_behind(tmp_path):
    tag = f"kubesim-stop-{uuid.uuid4().hex[:8]}"
    sim = KubeSim(speed=SPEED, runtime=RuntimeOptions(mode="local", root=str(tmp_path)))
    sim.start()
    try:
        core = client.CoreV1Api(make_client(sim))
        for i in range(3):
            core.create_namespaced_pod("default", pod(f"s{i}", ["sh", "-c", f"sleep 600 # {tag}"]))
        wait_for(lambda: len(_pids_in(tag)) >= 3, timeout=30)
    finally:
        sim.stop()
    wait_for(lambda: not _pids_in(tag), timeout=20)


def test_a_missing_claim_fails_the_mount_and_starts_nothing(core, ns):
    volumes = [{"name": "d", "persistentVolumeClaim": {"claimName": "absent"}}]
    core.create_namespaced_pod(
        ns,
        pod(
            "waiting",
            ["true"],
            volumes=volumes,
            container={"volumeMounts": [{"name": "d", "mountPath": "/data"}]},
        ),
    )
    event = wait_for(
        lambda: next(
            (e for e in core.list_namespaced_event(ns).items if e.reason == "FailedMount"), None
        )
    )
    assert 'persistentvolumeclaim "absent" not found' in event.message
    state = core.read_namespaced_pod("waiting", ns).status
    assert state.phase == "Pending"


def test_hosts_file_resolves_headless_service_peers(core, ns):
    for i in range(2):
        core.create_namespaced_pod(
            ns,
            pod(
                f"peer-{i}",
                ["sh", "-c", "sleep 1; getent hosts peer-0.group peer-1.group"],
                hostname=f"peer-{i}",
                subdomain="group",
            ),
        )
    for i in range(2):
        done = finished(core, ns, f"peer-{i}")
        assert done.status.phase == "Succeeded"
    text = logs(core, "peer-0", ns)
    ips = {core.read_namespaced_pod(f"peer-{i}", ns).status.pod_ip for i in range(2)}
    assert {line.split()[0] for line in text.splitlines()} == ips
