"""A cluster's health rides out faults and restarts (against its own kubesim, over HTTPS):
one failed call never takes it offline nor stops its watches, a 429 is waited out as its
Retry-After asks, lasting failures mark it Unreachable while its watches keep trying, and a
cluster that restarted empty is noticed by the next sync, which puts back what the portal
made there."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from compute import kubeconfig, services, tasks
from compute.kube.watch import WatchSupervisor
from compute.models import Cluster, ClusterStatus, ExtensionStatus, InstanceType, TargetStatus
from kubesim.server import KubeSim
from tests.conftest import NODES
from tests.helpers import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sqlite_readers_never_wait"),
]


@pytest.fixture
def own_sim(tmp_path):
    server = KubeSim(
        port=0, nodes=NODES, speed=20, tls=True, kubeconfig=str(tmp_path / "kubeconfig")
    ).start()
    yield server
    server.stop()


@pytest.fixture
def cluster(own_sim) -> Cluster:
    access = kubeconfig.read(Path(own_sim.kubeconfig_path).read_text())
    cluster = services.cluster_attach(name="faulty", access=access)
    cluster.refresh_from_db()
    assert cluster.status == ClusterStatus.CONNECTED, cluster.status_reason
    return cluster


@pytest.fixture
def supervisor():
    started = WatchSupervisor(tick=0.2, lease_seconds=10, watch_options={"backoff_cap": 0.5})
    yield started
    started._shutdown()


def fail_next(sim: KubeSim, code: int, count: int = 1) -> None:
    sim.faults.error_code = code
    sim.faults.fail_next = count


def watching(supervisor: WatchSupervisor, cluster: Cluster):
    """The cluster's watch once its readers listed and wait on their watch streams (which
    faults do not fail), so an injected failure hits the call the test makes."""
    supervisor.check()
    watch = supervisor.watches[cluster.pk]
    wait_for(
        lambda: all(r.lists for r in watch.readers if not r.kind.optional),
        what="the readers' first lists",
    )
    time.sleep(0.3)
    return watch


@pytest.mark.parametrize("code", [500, 429])
def test_a_single_failed_call_never_takes_the_cluster_offline_or_stops_its_watch(
    own_sim, cluster, supervisor, code
):
    watch = watching(supervisor, cluster)
    fail_next(own_sim, code)
    tasks.cluster_check(cluster.pk)
    cluster.refresh_from_db()
    assert cluster.status in (ClusterStatus.CONNECTED, ClusterStatus.DEGRADED)
    if code == 500:
        assert cluster.status == ClusterStatus.DEGRADED and cluster.failures == 1
        assert "answered 500" in cluster.status_reason
    else:  # alive but busy: nothing counted against it, it waits as asked
        assert cluster.failures == 0 and cluster.backoff_until is not None
    supervisor.check()
    assert supervisor.watches[cluster.pk] is watch and watch.is_alive()
    # Once the fault is gone (and the Retry-After passed), the next check clears it.
    Cluster.objects.filter(pk=cluster.pk).update(backoff_until=None)
    tasks.cluster_check(cluster.pk)
    cluster.refresh_from_db()
    assert cluster.status == ClusterStatus.CONNECTED and cluster.failures == 0
    assert cluster.status_reason == ""
    assert supervisor.watches[cluster.pk] is watch


def test_a_429_is_waited_out_before_calling_again(own_sim, cluster):
    fail_next(own_sim, 429)
    tasks.cluster_check(cluster.pk)
    cluster.refresh_from_db()
    assert cluster.backoff_until > timezone.now()
    before = sum(own_sim.api.requests.values())
    tasks.cluster_check(cluster.pk)
    tasks.cluster_sync(cluster.pk)
    assert sum(own_sim.api.requests.values()) == before  # nothing sent while it waits


def test_lasting_failures_mark_it_unreachable_and_a_success_brings_it_back(
    own_sim, cluster, supervisor, settings
):
    settings.CLUSTER_FAILURES_UNREACHABLE, settings.CLUSTER_FAILURE_WINDOW = 3, 20
    watch = watching(supervisor, cluster)
    own_sim.faults.error_code, own_sim.faults.error_rate = 500, 1.0
    for expected in (ClusterStatus.DEGRADED, ClusterStatus.DEGRADED):
        tasks.cluster_sync(cluster.pk)
        assert Cluster.objects.get(pk=cluster.pk).status == expected
    # Three failures, but within the window: still only Degraded.
    tasks.cluster_sync(cluster.pk)
    assert Cluster.objects.get(pk=cluster.pk).status == ClusterStatus.DEGRADED
    Cluster.objects.filter(pk=cluster.pk).update(
        failing_since=timezone.now() - timedelta(seconds=30)
    )
    tasks.cluster_sync(cluster.pk)
    cluster.refresh_from_db()
    assert cluster.status == ClusterStatus.UNREACHABLE and cluster.failures == 4
    supervisor.check()
    assert supervisor.watches[cluster.pk] is watch  # its readers back off on their own
    own_sim.faults.reset()
    tasks.sync_clusters()  # unreachable clusters are synced too: back within a sync period
    cluster.refresh_from_db()
    assert cluster.status == ClusterStatus.CONNECTED and cluster.failures == 0


def test_a_cluster_restarted_empty_is_noticed_and_put_back(own_sim, cluster, supervisor, team_a):
    services.extension_install(cluster=cluster, training=True, inference=True, node_selector={})
    cluster.refresh_from_db()
    services.instance_type_save(
        cluster=cluster,
        name="gpu-small",
        node_selector={"accelerator": "nvidia-a100"},
        requests={"cpu": "4", "memory": "16Gi"},
        limits={"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
    )
    target = services.target_create(
        workspace=team_a,
        cluster=cluster,
        name="cpu-target",
        namespace="team-a",
        create_namespace=True,
        quota_cpu="8",
    )
    target.refresh_from_db()
    assert target.status == TargetStatus.SUCCEEDED, target.status_reason
    target.allowed_instance_types.set(InstanceType.objects.filter(name="gpu-small"))
    cluster.refresh_from_db()
    old_uid = cluster.cluster_uid
    assert old_uid
    supervisor.check()
    watch = supervisor.watches[cluster.pk]

    own_sim.restart(keep_state=False)
    assert own_sim.call(lambda: own_sim.store.peek("namespaces", "team-a")) is None
    tasks.cluster_sync(cluster.pk)  # one sync period

    cluster.refresh_from_db()
    assert cluster.cluster_uid != old_uid
    assert cluster.extension_status == ExtensionStatus.INSTALLED, cluster.extension_steps
    assert own_sim.call(lambda: own_sim.store.peek("namespaces", "team-a")) is not None
    quota = own_sim.call(
        lambda: own_sim.store.peek("resourcequotas", "kubeportal-quota", namespace="team-a")
    )
    assert quota is not None and quota["spec"]["hard"]["requests.cpu"] == "8"
    remote = own_sim.call(lambda: own_sim.store.peek("instancetypes.kubeportal.io", "gpu-small"))
    assert remote is not None
    target.refresh_from_db()
    assert target.status == TargetStatus.SUCCEEDED
    assert list(target.allowed_instance_types.values_list("name", flat=True)) == ["gpu-small"]
    assert InstanceType.objects.get(cluster=cluster, name="gpu-small").sync_state == "in_cluster"
    # The watch starts afresh (what it knew, and its resourceVersions, are gone).
    supervisor.check()
    assert supervisor.watches[cluster.pk] is not watch
    wait_for(lambda: supervisor.watches[cluster.pk].is_alive(), what="the new watch")
