"""Integration tests of the simulated kubelet, Job and Deployment controllers over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
from kubernetes import client

from kubesim.server import KubeSim
from tests.helpers import wait_for

T = TypeVar("T")
NS = "default"


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    server = KubeSim(port=0, speed=50).start()
    yield server
    server.stop()


@pytest.fixture
def api(sim: KubeSim) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    cfg.host = sim.url
    cfg.api_key = {"authorization": f"Bearer {sim.token}"}
    with client.ApiClient(cfg) as api_client:
        yield api_client


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def batch(api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


def job(
    name: str,
    *,
    annotations: dict[str, str] | None = None,
    restart: str = "Never",
    image: str = "python:3.11",
    **spec: Any,
) -> dict[str, Any]:
    """Return a Job manifest whose pods carry `annotations`."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"annotations": annotations or {}},
                "spec": {
                    "restartPolicy": restart,
                    "containers": [{"name": "train", "image": image}],
                },
            },
            **spec,
        },
    }


def read_log(core: client.CoreV1Api, name: str, **kwargs: Any) -> str:
    """Return a pod's log text (raw response: the client's str decoding of it is unreliable)."""
    resp = core.read_namespaced_pod_log(name, NS, _preload_content=False, **kwargs)
    return resp.data.decode()


def job_pods(core: client.CoreV1Api, name: str) -> list[Any]:
    return core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items


def condition(obj: Any, ctype: str) -> Any:
    return next((c for c in obj.status.conditions or [] if c.type == ctype), None)


def finished(batch: client.BatchV1Api, name: str, ctype: str) -> Any:
    j = batch.read_namespaced_job(name, NS)
    cond = condition(j, ctype)
    return j if cond is not None and cond.status == "True" else None


def reasons(core: client.CoreV1Api, name: str) -> list[str]:
    events = core.list_namespaced_event(NS, field_selector=f"involvedObject.name={name}").items
    return [e.reason for e in sorted(events, key=lambda e: e.metadata.name)]


def test_job_runs_to_completion(core: client.CoreV1Api, batch: client.BatchV1Api) -> None:
    batch.create_namespaced_job(NS, job("train", completions=2, parallelism=2))
    j = wait_for(lambda: finished(batch, "train", "Complete"))
    assert j.status.succeeded == 2 and not j.status.active
    assert j.status.start_time is not None and j.status.completion_time is not None
    assert condition(j, "SuccessCriteriaMet").status == "True"
    pods = job_pods(core, "train")
    assert len(pods) == 2
    p = pods[0]
    assert p.metadata.name.startswith("train-") and len(p.metadata.name) == len("train-") + 5
    assert p.metadata.labels["batch.kubernetes.io/job-name"] == "train"
    assert p.metadata.labels["controller-uid"] == j.metadata.uid
    assert p.metadata.owner_references[0].kind == "Job"
    assert p.metadata.owner_references[0].controller is True
    assert p.status.phase == "Succeeded"
    term = p.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (0, "Completed")
    assert term.started_at is not None and term.finished_at is not None
    log = read_log(core, p.metadata.name)
    assert log.splitlines()[0].startswith("starting training run")
    assert "epoch 1/5 loss=" in log and "training finished" in log
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= set(
        reasons(core, p.metadata.name)
    )
    assert {"SuccessfulCreate", "Completed"} <= set(reasons(core, "train"))


def test_running_pod_status(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(
        NS,
        {
            "metadata": {
                "name": "srv",
                "annotations": {
                    "kubesim.io/run-forever": "true",
                    "kubesim.io/readiness-delay": "5",
                },
            },
            "spec": {
                "initContainers": [{"name": "setup", "image": "busybox:1.36"}],
                "containers": [{"name": "web", "image": "nginx:1.27"}],
            },
        },
    )
    p = wait_for(lambda: (x := core.read_namespaced_pod("srv", NS)).status.phase == "Running" and x)
    assert p.status.init_container_statuses[0].state.terminated.reason == "Completed"
    assert p.status.container_statuses[0].state.running.started_at is not None
    assert p.status.pod_ip and p.status.host_ip
    p = wait_for(
        lambda: (x := core.read_namespaced_pod("srv", NS)).status.container_statuses[0].ready and x
    )
    for ctype in ("Initialized", "ContainersReady", "Ready", "PodScheduled"):
        assert condition(p, ctype).status == "True"


def test_job_failure_exit_code_and_backoff_limit(
    core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    batch.create_namespaced_job(
        NS,
        job(
            "fail",
            backoffLimit=1,
            annotations={"kubesim.io/exit-code": "3", "kubesim.io/duration": "1"},
        ),
    )
    j = wait_for(lambda: finished(batch, "fail", "Failed"))
    assert condition(j, "Failed").reason == "BackoffLimitExceeded"
    assert j.status.failed == 2
    pods = job_pods(core, "fail")
    assert len(pods) == 2 and all(p.status.phase == "Failed" for p in pods)
    term = pods[0].status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (3, "Error")
    assert "BackoffLimitExceeded" in reasons(core, "fail")


def test_oom_killed(core: client.CoreV1Api, batch: client.BatchV1Api) -> None:
    batch.create_namespaced_job(
        NS, job("oom", backoffLimit=0, annotations={"kubesim.io/oom": "true"})
    )
    wait_for(lambda: finished(batch, "oom", "Failed"))
    term = job_pods(core, "oom")[0].status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (137, "OOMKilled")


def test_image_pull_failure(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(
        NS,
        {
            "metadata": {"name": "nopull"},
            "spec": {"containers": [{"name": "app", "image": "registry.example/does-not-exist:1"}]},
        },
    )

    def waiting() -> Any:
        cs = core.read_namespaced_pod("nopull", NS).status.container_statuses or []
        w = cs[0].state.waiting if cs else None
        return w if w is not None and w.reason == "ImagePullBackOff" else None

    w = wait_for(waiting)
    assert 'Back-off pulling image "registry.example/does-not-exist:1"' in w.message
    assert core.read_namespaced_pod("nopull", NS).status.phase == "Pending"
    events = core.list_namespaced_event(NS, field_selector="involvedObject.name=nopull").items
    messages = [e.message for e in events]
    assert any(
        m.startswith('Failed to pull image "registry.example/does-not-exist:1": ') for m in messages
    )
    assert "Error: ErrImagePull" in messages and "Error: ImagePullBackOff" in messages


def test_crash_loop_restarts(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(
        NS,
        {
            "metadata": {
                "name": "crash",
                "annotations": {"kubesim.io/crash-loop": "true", "kubesim.io/duration": "0.5"},
            },
            "spec": {
                "restartPolicy": "Always",
                "containers": [
                    {
                        "name": "app",
                        "image": "busybox:1.36",
                        "env": [{"name": "KUBESIM_EXIT_CODE", "value": "2"}],
                    }
                ],
            },
        },
    )

    def restarted() -> Any:
        cs = core.read_namespaced_pod("crash", NS).status.container_statuses or []
        return cs[0] if cs and cs[0].restart_count >= 2 else None

    cs = wait_for(restarted)
    assert cs.last_state.terminated.exit_code == 2
    assert core.read_namespaced_pod("crash", NS).status.phase == "Running"
    wait_for(lambda: "BackOff" in reasons(core, "crash"))
    previous = read_log(core, "crash", previous=True)
    assert "training failed (exit 2)" in previous


def test_indexed_job_hostnames_and_indexes(
    core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    manifest = job("idx", completions=3, parallelism=3, completionMode="Indexed")
    manifest["spec"]["template"]["spec"]["subdomain"] = "workers"
    batch.create_namespaced_job(NS, manifest)
    j = wait_for(lambda: finished(batch, "idx", "Complete"))
    assert j.status.completed_indexes == "0-2"
    pods = sorted(
        job_pods(core, "idx"),
        key=lambda p: p.metadata.annotations["batch.kubernetes.io/job-completion-index"],
    )
    assert [p.spec.hostname for p in pods] == ["idx-0", "idx-1", "idx-2"]
    assert all(p.spec.subdomain == "workers" for p in pods)
    assert [p.metadata.name.rsplit("-", 1)[0] for p in pods] == ["idx-0", "idx-1", "idx-2"]
    assert pods[1].metadata.labels["batch.kubernetes.io/job-completion-index"] == "1"


def test_job_active_deadline(core: client.CoreV1Api, batch: client.BatchV1Api) -> None:
    batch.create_namespaced_job(
        NS, job("slow", activeDeadlineSeconds=2, annotations={"kubesim.io/duration": "600"})
    )
    j = wait_for(lambda: finished(batch, "slow", "Failed"))
    assert condition(j, "Failed").reason == "DeadlineExceeded"
    wait_for(lambda: not job_pods(core, "slow"))
    assert "DeadlineExceeded" in reasons(core, "slow")


def test_pod_active_deadline(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod(
        NS,
        {
            "metadata": {"name": "capped", "annotations": {"kubesim.io/run-forever": "true"}},
            "spec": {
                "activeDeadlineSeconds": 3,
                "restartPolicy": "Never",
                "containers": [{"name": "app", "image": "busybox:1.36"}],
            },
        },
    )
    p = wait_for(
        lambda: (x := core.read_namespaced_pod("capped", NS)).status.phase == "Failed" and x
    )
    assert p.status.reason == "DeadlineExceeded"


def test_suspended_job_creates_no_pods(core: client.CoreV1Api, batch: client.BatchV1Api) -> None:
    batch.create_namespaced_job(NS, job("later", suspend=True))
    j = wait_for(lambda: finished(batch, "later", "Suspended"))
    assert condition(j, "Suspended").reason == "JobSuspended"
    assert not job_pods(core, "later")
    batch.patch_namespaced_job("later", NS, {"spec": {"suspend": False}})
    wait_for(lambda: finished(batch, "later", "Complete"))


def deployment(name: str, image: str, replicas: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name},
                    "annotations": {"kubesim.io/readiness-delay": "2"},
                },
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def available(apps: client.AppsV1Api, name: str, image: str) -> Any:
    d = apps.read_namespaced_deployment(name, NS)
    s = d.status
    progressing = condition(d, "Progressing")
    ok = (
        s.available_replicas == d.spec.replicas
        and s.updated_replicas == d.spec.replicas
        and s.replicas == d.spec.replicas
        and progressing is not None
        and progressing.reason == "NewReplicaSetAvailable"
        and d.spec.template.spec.containers[0].image == image
    )
    return d if ok else None


def test_deployment_available_and_rolling_update(
    core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment(NS, deployment("web", "nginx:1.26"))
    d = wait_for(lambda: available(apps, "web", "nginx:1.26"))
    assert condition(d, "Available").reason == "MinimumReplicasAvailable"
    assert d.status.observed_generation == d.metadata.generation
    (rs,) = apps.list_namespaced_replica_set(NS, label_selector="app=web").items
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pod_hash}"
    pods = core.list_namespaced_pod(NS, label_selector="app=web").items
    assert len(pods) == 3 and all(p.status.phase == "Running" for p in pods)
    assert all(p.metadata.name.startswith(rs.metadata.name + "-") for p in pods)
    assert any(r == "ScalingReplicaSet" for r in reasons(core, "web"))
    assert "SuccessfulCreate" in reasons(core, rs.metadata.name)

    apps.patch_namespaced_deployment(
        "web",
        NS,
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
    )
    seen_total: set[int] = set()

    def rolled() -> Any:
        seen_total.add(
            len(
                [
                    p
                    for p in core.list_namespaced_pod(NS, label_selector="app=web").items
                    if p.status.phase in ("Pending", "Running")
                ]
            )
        )
        return available(apps, "web", "nginx:1.27")

    d = wait_for(rolled, timeout=20)
    sets = apps.list_namespaced_replica_set(NS, label_selector="app=web").items
    assert len(sets) == 2
    old = next(r for r in sets if r.metadata.name == rs.metadata.name)
    assert old.spec.replicas == 0
    pods = core.list_namespaced_pod(NS, label_selector="app=web").items
    assert {p.spec.containers[0].image for p in pods} == {"nginx:1.27"}
    assert max(seen_total) <= 4  # maxSurge 25% of 3 rounds up to 1
    messages = [
        e.message
        for e in core.list_namespaced_event(NS, field_selector="involvedObject.name=web").items
    ]
    assert f"Scaled down replica set {rs.metadata.name} from 3 to 2" in messages
    assert "SuccessfulDelete" in reasons(core, rs.metadata.name)
