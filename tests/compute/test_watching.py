"""The watch engine against kubesim over HTTP: batching, re-list after 410, faults, leases."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from compute.kube.client import client_for
from compute.kube.watch import Batch, ClusterWatch, Kind, WatchSupervisor, lease_claim
from compute.models import ClusterLease, Node
from tests.helpers import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sqlite_readers_never_wait"),
]

NS = "watch-test"
SELECTOR = "test.kubeportal.io/watched=yes"


class Recorder:
    """A handler that keeps every batch it was given."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.lock = threading.Lock()

    def __call__(self, batch: Batch) -> None:
        with self.lock:
            self.batches.append(batch)

    def events(self) -> list:
        with self.lock:
            return [e for b in self.batches for e in b.events]

    def last(self, key: str):
        found = [e for e in self.events() if e.key == key]
        return found[-1] if found else None


def configmap(name: str, value: str = "1") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"test.kubeportal.io/watched": "yes"}},
        "data": {"v": value},
    }


@pytest.fixture
def cluster(attach, sim):
    cluster = attach("sim", install=False)
    sim.call(
        lambda: sim.store.create(
            "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
        )
    )
    yield cluster
    sim.faults.reset()


@pytest.fixture
def watch(cluster):
    """Starts a ClusterWatch on config maps with a recording handler; always stops it."""
    started: list[ClusterWatch] = []

    def start(recorder: Recorder, **options) -> ClusterWatch:
        kind = Kind(
            name="configmaps",
            path=f"/api/v1/namespaces/{NS}/configmaps",
            handler=recorder,
            label_selector=SELECTOR,
        )
        options = {"backoff_cap": 0.5, **options}
        w = ClusterWatch(cluster.pk, client_for(cluster), [kind], **options).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
        assert not w.is_alive()


def test_changes_are_coalesced_and_batched(sim, watch):
    recorder = Recorder()
    w = watch(recorder, flush_interval=0.2)
    wait_for(lambda: w.caches["configmaps"].synced, what="the first list")

    def burst():
        for i in range(50):
            sim.store.create("configmaps", configmap(f"cm-{i}"), namespace=NS)
        for round_ in range(20):
            sim.store.patch("configmaps", "cm-0", {"data": {"v": str(round_)}}, namespace=NS)

    sim.call(burst)
    wait_for(lambda: len(w.caches["configmaps"]) == 50, what="the cache to fill")
    wait_for(
        lambda: (
            (recorder.last(f"{NS}/cm-0") or None)
            and recorder.last(f"{NS}/cm-0").obj["data"]["v"] == "19"
        ),
        what="the last update",
    )
    # 70 changes arrived within one flush interval: far fewer handler calls, last state wins.
    updates = [e for e in recorder.events() if e.key == f"{NS}/cm-0"]
    assert len(updates) < 21
    assert len(recorder.batches) < 10
    assert w.caches["configmaps"].get(f"{NS}/cm-0")["data"]["v"] == "19"


def test_relist_after_410_reports_what_vanished(sim, watch):
    recorder = Recorder()
    for name in ("keep", "gone", "changed"):
        sim.call(lambda n=name: sim.store.create("configmaps", configmap(n), namespace=NS))
    w = watch(recorder)
    wait_for(lambda: len(w.caches["configmaps"]) == 3, what="the first list")
    lists = w.readers[0].lists

    def behind_its_back():
        # Runs on the simulator's loop: the open watch never gets to send these events
        # (closing discards its queue) and compacting makes its resourceVersion expire.
        sim.store.delete("configmaps", "gone", namespace=NS)
        sim.store.patch("configmaps", "changed", {"data": {"v": "2"}}, namespace=NS)
        sim.store.create("configmaps", configmap("new"), namespace=NS)
        sim.faults.compact()
        sim.faults.drop_watches()

    sim.call(behind_its_back)
    wait_for(lambda: w.readers[0].lists > lists, what="a re-list after 410")
    wait_for(lambda: recorder.last(f"{NS}/new"), what="the new object")
    wait_for(lambda: recorder.last(f"{NS}/gone"), what="the vanished object")
    assert recorder.last(f"{NS}/gone").type == "DELETED"
    assert recorder.last(f"{NS}/changed").type == "MODIFIED"
    assert recorder.last(f"{NS}/changed").obj["data"]["v"] == "2"
    assert sorted(w.caches["configmaps"]._objects) == [
        f"{NS}/{n}" for n in ("changed", "keep", "new")
    ]
    assert any("configmaps" in b.resynced for b in recorder.batches)


@pytest.mark.parametrize("code", [500, 429])
def test_failing_lists_back_off_then_recover(sim, watch, code):
    sim.faults.update({"error_rate": 1.0, "error_code": code})
    recorder = Recorder()
    w = watch(recorder)
    time.sleep(0.5)
    assert not w.caches["configmaps"].synced and w.readers[0].backoff.failures >= 1
    sim.faults.reset()
    sim.call(lambda: sim.store.create("configmaps", configmap("after"), namespace=NS))
    wait_for(lambda: recorder.last(f"{NS}/after"), what="recovery")


def test_latency_and_dropped_streams_lose_nothing(sim, watch):
    recorder = Recorder()
    w = watch(recorder)
    wait_for(lambda: w.caches["configmaps"].synced, what="the first list")
    sim.faults.update({"latency_ms": 50})
    for i in range(30):
        sim.call(lambda i=i: sim.store.create("configmaps", configmap(f"d-{i}"), namespace=NS))
        if i % 5 == 0:
            sim.call(sim.faults.drop_watches)
    wanted = {f"{NS}/d-{i}" for i in range(30)}
    wait_for(lambda: {e.key for e in recorder.events()} == wanted, what="every object")
    assert len(w.caches["configmaps"]) == 30


def test_missing_optional_kind_waits_quietly_and_stops(cluster):
    recorder = Recorder()
    kind = Kind(
        name="widgets", path="/apis/example.com/v1/widgets", handler=recorder, optional=True
    )
    w = ClusterWatch(cluster.pk, client_for(cluster), [kind], optional_retry=60).start()
    time.sleep(0.3)
    assert not w.caches["widgets"].synced and w.readers[0].backoff.failures == 0
    w.stop(timeout=5)
    assert not w.is_alive()


def test_node_changes_sync_capacity(sim, cluster):
    supervisor = WatchSupervisor(tick=0.2, lease_seconds=5).start()
    try:
        wait_for(lambda: supervisor.watches, what="the cluster to be watched")
        node = Node.objects.filter(cluster=cluster).first().name
        sim.call(lambda: sim.store.patch("nodes", node, {"metadata": {"labels": {"rack": "r7"}}}))
        wait_for(
            lambda: Node.objects.get(cluster=cluster, name=node).labels.get("rack") == "r7",
            what="the node row to follow",
        )
    finally:
        supervisor.stop()
    assert not supervisor.watches


def test_one_supervisor_per_cluster_and_release_on_stop(cluster):
    first = WatchSupervisor(holder="first", tick=0.2, lease_seconds=5).start()
    second = WatchSupervisor(holder="second", tick=0.2, lease_seconds=5).start()
    try:
        wait_for(lambda: first.watches or second.watches, what="a watcher")
        time.sleep(1.0)  # several passes of both
        assert len(first.watches) + len(second.watches) == 1
        holder, other = (first, second) if first.watches else (second, first)
        assert ClusterLease.objects.get(cluster=cluster).holder == holder.holder
        holder.stop()  # graceful: the lease is released, the other takes over at once
        wait_for(lambda: other.watches, what="the other supervisor to take over")
        assert ClusterLease.objects.get(cluster=cluster).holder == other.holder
    finally:
        first.stop()
        second.stop()
    assert not first.watches and not second.watches


def test_lease_of_a_silent_holder_passes_on_after_expiry(cluster):
    assert lease_claim(cluster_id=cluster.pk, holder="crashed", seconds=1.5)
    assert not lease_claim(cluster_id=cluster.pk, holder="other", seconds=1.5)
    supervisor = WatchSupervisor(holder="heir", tick=0.2, lease_seconds=5).start()
    try:
        time.sleep(0.5)
        assert not supervisor.watches  # the crashed holder's lease is still valid
        wait_for(lambda: supervisor.watches, what="the expired lease to pass on")
        lease = ClusterLease.objects.get(cluster=cluster)
        assert lease.holder == "heir" and lease.expires_at > timezone.now() + timedelta(seconds=1)
    finally:
        supervisor.stop()
    assert ClusterLease.objects.get(cluster=cluster).holder == ""


def test_a_stop_goes_on_when_the_stream_cannot_be_shut_down():
    """urllib3 refuses to shut down a response whose socket is gone (ValueError); a stop at
    that moment once killed the supervisor's shutdown and kept the cluster's lease."""
    import threading

    from compute.kube.watch import Reader

    class Gone:
        def shutdown(self) -> None:
            raise ValueError("Cannot shutdown socket as self._sock_shutdown is not set")

    reader = Reader.__new__(Reader)  # only the abort path: no cluster needed
    reader._response_lock = threading.Lock()
    reader._response = Gone()
    reader._abort()  # does not raise


def metric(name: str, **labels) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_watches_count_events_relists_and_restarts_in_metrics_and_summaries(sim, watch, cluster):
    recorder = Recorder()
    labels = {"cluster": str(cluster.pk), "kind": "configmaps"}
    events, relists = (
        metric("portal_watch_events_total", **labels),
        metric("portal_watch_relists_total", **labels),
    )
    restarts = metric("portal_watch_restarts_total", **labels)
    lag = metric("portal_watch_lag_seconds_count", cluster=str(cluster.pk))
    w = watch(recorder)
    wait_for(lambda: w.caches["configmaps"].synced, what="the first list")
    for n in range(3):
        sim.call(lambda n=n: sim.store.create("configmaps", configmap(f"m-{n}"), namespace=NS))
    wait_for(lambda: len(recorder.events()) >= 3, what="the events")
    assert metric("portal_watch_events_total", **labels) - events >= 3
    assert metric("portal_watch_lag_seconds_count", cluster=str(cluster.pk)) > lag
    unseen = iter(range(10))

    def behind_its_back():
        sim.store.create("configmaps", configmap(f"unseen-{next(unseen)}"), namespace=NS)
        sim.faults.compact()
        sim.faults.drop_watches()

    sim.call(behind_its_back)
    wait_for(lambda: metric("portal_watch_relists_total", **labels) > relists, what="a re-list")
    sim.faults.update({"error_rate": 1.0, "error_code": 500})  # the next re-list fails
    sim.call(behind_its_back)
    wait_for(lambda: metric("portal_watch_restarts_total", **labels) > restarts, what="a restart")
    sim.faults.reset()
    window = w.window.take()
    assert window["events"] >= 3 and window["batches"] >= 1 and window["relists"] >= 1
    assert window["restarts"] >= 1 and window["lag_max_ms"] >= 0
    assert w.window.take()["events"] == 0  # a window starts afresh


def test_the_supervisor_logs_a_summary_line_per_cluster_and_says_when_it_passes(cluster, caplog):
    supervisor = WatchSupervisor(tick=0.2, lease_seconds=5, summary_seconds=0.5)
    assert not supervisor.passing()  # not started
    supervisor.start()
    try:
        wait_for(supervisor.passing, what="a pass")
        wait_for(lambda: supervisor.watches, what="the cluster to be watched")
        with caplog.at_level("INFO", logger="compute.kube.watch.leases"):
            wait_for(
                lambda: any("cluster sim:" in r.getMessage() for r in caplog.records),
                what="a summary line",
            )
        line = next(r.getMessage() for r in caplog.records if "cluster sim:" in r.getMessage())
        assert "events in" in line and "batches" in line and "lag mean" in line
    finally:
        supervisor.stop()
    assert not supervisor.passing()
