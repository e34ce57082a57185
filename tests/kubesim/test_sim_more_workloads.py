"""DaemonSets, StatefulSets, CronJobs and ReplicationControllers under the simulation."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from kubesim.sim.cronjobs import next_run, parse_schedule

TEMPLATE = {
    "metadata": {"labels": {"app": "w"}},
    "spec": {"containers": [{"name": "main", "image": "busybox"}]},
}


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _pods(api: client.ApiClient, ns: str) -> list:
    return client.CoreV1Api(api).list_namespaced_pod(ns, label_selector="app=w").items


def test_a_daemonset_runs_a_pod_per_node_and_rolls_its_template(k8s_api_client, namespace):
    nodes = client.CoreV1Api(k8s_api_client).list_node().items
    untainted = [n for n in nodes if not (n.spec.taints or [])]
    apps = client.AppsV1Api(k8s_api_client)
    body = {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "w"}}, "template": TEMPLATE},
    }
    apps.create_namespaced_daemon_set(namespace, body)
    pods = wait_for(
        lambda: (
            len(_pods(k8s_api_client, namespace)) == len(untainted)
            and _pods(k8s_api_client, namespace)
        )
    )
    assert sorted(p.spec.node_name for p in pods) == sorted(n.metadata.name for n in untainted)
    ds = wait_for(
        lambda: (
            (d := apps.read_namespaced_daemon_set("agent", namespace)).status.number_ready
            == len(untainted)
            and d
        )
    )
    assert ds.status.desired_number_scheduled == len(untainted)
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}}}
    }
    apps.patch_namespaced_daemon_set("agent", namespace, patch)
    wait_for(
        lambda: (
            all(p.spec.containers[0].image == "busybox:2" for p in _pods(k8s_api_client, namespace))
            and len(_pods(k8s_api_client, namespace)) == len(untainted)
        ),
        timeout=40,
    )


def test_a_statefulset_orders_pods_makes_claims_and_scales_down_from_the_top(
    k8s_api_client, namespace
):
    apps = client.AppsV1Api(k8s_api_client)
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    body = {
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "w"}},
            "template": TEMPLATE,
            "volumeClaimTemplates": [claim],
        },
    }
    apps.create_namespaced_stateful_set(namespace, body)
    wait_for(lambda: apps.read_namespaced_stateful_set("db", namespace).status.ready_replicas == 3)
    pods = sorted(_pods(k8s_api_client, namespace), key=lambda p: p.metadata.name)
    assert [p.metadata.name for p in pods] == ["db-0", "db-1", "db-2"]
    assert [p.spec.hostname for p in pods] == ["db-0", "db-1", "db-2"]
    assert all(p.spec.subdomain == "db" for p in pods)
    created = sorted(p.metadata.creation_timestamp for p in pods)
    assert created == [p.metadata.creation_timestamp for p in pods]
    claims = client.CoreV1Api(k8s_api_client).list_namespaced_persistent_volume_claim(namespace)
    assert sorted(c.metadata.name for c in claims.items) == ["data-db-0", "data-db-1", "data-db-2"]
    apps.patch_namespaced_stateful_set_scale("db", namespace, {"spec": {"replicas": 1}})
    wait_for(lambda: [p.metadata.name for p in _pods(k8s_api_client, namespace)] == ["db-0"])


def test_cron_schedules_in_simulated_time() -> None:
    start = datetime(2025, 1, 1, 10, 7, 30, tzinfo=UTC)
    assert next_run(parse_schedule("*/15 * * * *"), start) == start.replace(minute=15, second=0)
    assert next_run(parse_schedule("@daily"), start).day == 2
    assert next_run(parse_schedule("0 9 * * 1"), start).isoweekday() == 1


def test_a_cronjob_starts_jobs_and_keeps_its_history(k8s_api_client, namespace):
    batch = client.BatchV1Api(k8s_api_client)
    job_template = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "main", "image": "busybox"}],
                    "restartPolicy": "OnFailure",
                }
            }
        }
    }
    body = {
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "jobTemplate": job_template,
        },
    }
    batch.create_namespaced_cron_job(namespace, body)
    # Speed 20: a simulated minute is 3 s; two runs leave one job (history limit 1).
    wait_for(
        lambda: (
            (st := batch.read_namespaced_cron_job("tick", namespace).status)
            and st.last_successful_time
        ),
        timeout=30,
    )
    first = batch.read_namespaced_cron_job("tick", namespace).status.last_schedule_time
    wait_for(
        lambda: (
            batch.read_namespaced_cron_job("tick", namespace).status.last_schedule_time != first
        ),
        timeout=30,
    )
    wait_for(lambda: len(batch.list_namespaced_job(namespace).items) <= 2, timeout=30)
    jobs = batch.list_namespaced_job(namespace).items
    assert all(j.metadata.owner_references[0].kind == "CronJob" for j in jobs)


def test_a_replication_controller_keeps_its_replicas(k8s_api_client, namespace):
    core = client.CoreV1Api(k8s_api_client)
    body = {
        "metadata": {"name": "rc"},
        "spec": {"replicas": 2, "selector": {"app": "w"}, "template": TEMPLATE},
    }
    core.create_namespaced_replication_controller(namespace, body)
    wait_for(
        lambda: (
            core.read_namespaced_replication_controller("rc", namespace).status.ready_replicas == 2
        )
    )
    victim = _pods(k8s_api_client, namespace)[0].metadata.name
    core.delete_namespaced_pod(victim, namespace)
    wait_for(
        lambda: (
            len(names := [p.metadata.name for p in _pods(k8s_api_client, namespace)]) == 2
            and victim not in names
        )
    )
