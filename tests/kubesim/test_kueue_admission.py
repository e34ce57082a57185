"""kubesim's Kueue: queued Jobs suspended and admitted by quota, in queue order."""

from __future__ import annotations

import threading

from kubernetes import client, watch

from tests.kubesim.kueue_helpers import G, Kueue, V, owner_names, uid, wait_for


def _queues(k: Kueue, cpu: str, **kw) -> tuple[str, str, str]:
    flavor, cq, lq = uid("rf"), uid("cq"), uid("lq")
    k.flavor(flavor, labels={"kubesim.io/pool": "cpu"})
    k.cluster_queue(cq, flavor, cpu, **kw)
    k.local_queue(lq, cq)
    return flavor, cq, lq


def test_queued_job_is_suspended_and_gets_a_workload(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _flavor, _cq, lq = _queues(k, "0")
    k.priority_class(wpc := uid("wpc"), 500)
    job = k.job("waits", lq, priority=wpc)
    assert job.spec.suspend is True  # the webhook suspends it on create
    wl = wait_for(lambda: k.workload_of("waits"), what="the workload")
    assert wl["metadata"]["name"].startswith("job-waits-")
    owner = wl["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Job",
        "waits",
        job.metadata.uid,
        True,
    )
    assert wl["metadata"]["labels"]["kueue.x-k8s.io/job-uid"] == job.metadata.uid
    spec = wl["spec"]
    assert spec["queueName"] == lq and spec["priority"] == 500
    assert spec["priorityClassRef"] == {"group": G, "kind": "WorkloadPriorityClass", "name": wpc}
    assert spec["podSets"][0]["count"] == 1
    assert spec["podSets"][0]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "1"}
    }
    old = k.co.get_namespaced_custom_object(
        G, "v1beta1", namespace, "workloads", wl["metadata"]["name"]
    )
    assert old["spec"]["priorityClassName"] == wpc
    assert old["spec"]["priorityClassSource"] == "kueue.x-k8s.io/workloadpriorityclass"
    reserved = wait_for(lambda: k.condition("waits", "QuotaReserved"), what="QuotaReserved")
    assert reserved["status"] == "False" and reserved["reason"] == "ExceedsMaxQuota"
    assert reserved["message"].startswith("couldn't assign flavors to pod set main: ")
    assert "insufficient quota for cpu in flavor" in reserved["message"]
    assert k.suspended("waits")
    # A job without the label is left alone.
    plain = k.batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "plain"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "m", "image": "busybox"}],
                    }
                }
            },
        },
    )
    assert not plain.spec.suspend


def test_admission_by_quota_writes_the_flavor_and_frees_quota(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    flavor, cq, lq = _queues(k, "2")
    for name in ("one", "two", "three"):
        k.job(name, lq)
    k.wait_admitted("one", "two")
    job = k.batch.read_namespaced_job("one", namespace)
    assert job.spec.suspend is False
    assert job.spec.template.spec.node_selector == {"kubesim.io/pool": "cpu"}
    admission = k.workload_of("one")["status"]["admission"]
    assert admission["clusterQueue"] == cq
    assert admission["podSetAssignments"] == [
        {"name": "main", "flavors": {"cpu": flavor}, "resourceUsage": {"cpu": "1"}, "count": 1}
    ]
    reserved = k.condition("one", "QuotaReserved")
    assert (reserved["status"], reserved["reason"], reserved["message"]) == (
        "True",
        "QuotaReserved",
        f"Quota reserved in ClusterQueue {cq}",
    )
    admitted = k.condition("one", "Admitted")
    assert (admitted["reason"], admitted["message"]) == ("Admitted", "The workload is admitted")
    waiting = wait_for(lambda: k.condition("three", "QuotaReserved"), what="a reason")
    assert waiting["status"] == "False" and waiting["reason"] == "WaitingForQuota"
    assert waiting["message"] == (
        "couldn't assign flavors to pod set main: "
        f"insufficient unused quota for cpu in flavor {flavor}, 1 more needed"
    )
    assert k.suspended("three")
    status = wait_for(
        lambda: (s := k.cq_status(cq)).get("admittedWorkloads") == 2 and s, what="cq status"
    )
    assert status["pendingWorkloads"] == 1 and status["reservingWorkloads"] == 2
    assert status["flavorsReservation"] == [
        {"name": flavor, "resources": [{"name": "cpu", "total": "2", "borrowed": "0"}]}
    ]
    assert {"type": "Active", "status": "True", "reason": "Ready"}.items() <= status["conditions"][
        0
    ].items()
    lq_status = k.co.get_namespaced_custom_object(G, V, namespace, "localqueues", lq)["status"]
    assert (lq_status["pendingWorkloads"], lq_status["admittedWorkloads"]) == (1, 2)
    assert lq_status["flavorsUsage"] == [
        {"name": flavor, "resources": [{"name": "cpu", "total": "2"}]}
    ]
    k.batch.delete_namespaced_job("one", namespace)  # its Workload goes with it
    k.wait_admitted("three")
    assert not k.suspended("three")


def test_completion_releases_quota_and_finishes_the_workload(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _flavor, cq, lq = _queues(k, "1")
    k.job("first", lq, seconds=2)
    k.job("second", lq, seconds=2)
    for name in ("first", "second"):
        done = wait_for(
            lambda n=name: (c := k.condition(n, "Finished")) and c["status"] == "True" and c,
            what=f"{name} finished",
        )
        assert done["reason"] == "Succeeded"
    assert k.batch.read_namespaced_job("second", namespace).status.succeeded == 1
    status = wait_for(
        lambda: (
            (s := k.cq_status(cq))
            .get("flavorsUsage", [{}])[0]
            .get("resources", [{}])[0]
            .get("total")
            == "0"
            and s
        ),
        what="usage back to 0",
    )
    assert status["admittedWorkloads"] == 0 and status["pendingWorkloads"] == 0


def test_priority_then_fifo_order_and_positions(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _flavor, cq, lq = _queues(k, "1")
    k.priority_class(low := uid("low"), 10)
    k.priority_class(high := uid("high"), 1000)
    k.job("running", lq)
    k.wait_admitted("running")
    k.job("low-1", lq, priority=low)
    k.job("low-2", lq, priority=low)
    k.job("high-1", lq, priority=high)
    items = wait_for(lambda: len(k.pending_in_cq(cq)) == 3 and k.pending_in_cq(cq))
    assert owner_names(items) == ["high-1", "low-1", "low-2"]
    assert [i["positionInClusterQueue"] for i in items] == [0, 1, 2]
    assert [i["positionInLocalQueue"] for i in items] == [0, 1, 2]
    assert [i["priority"] for i in items] == [1000, 10, 10]
    assert {i["localQueueName"] for i in items} == {lq}
    assert items[0]["metadata"]["namespace"] == namespace
    summary = k.co.get_cluster_custom_object(
        "visibility.kueue.x-k8s.io", "v1beta2", "clusterqueues", f"{cq}/pendingworkloads"
    )
    assert summary["kind"] == "PendingWorkloadsSummary"
    assert summary["apiVersion"] == "visibility.kueue.x-k8s.io/v1beta2"
    assert owner_names(k.pending_in_lq(lq, "v1beta2")) == ["high-1", "low-1", "low-2"]
    k.batch.delete_namespaced_job("running", namespace)
    k.wait_admitted("high-1")
    assert not k.admitted("low-1")
    items = k.pending_in_cq(cq)
    assert owner_names(items) == ["low-1", "low-2"]
    assert [i["positionInClusterQueue"] for i in items] == [0, 1]
    k.batch.delete_namespaced_job("high-1", namespace)
    k.wait_admitted("low-1")
    assert owner_names(k.pending_in_cq(cq)) == ["low-2"]


def test_positions_in_a_local_queue_sharing_a_cluster_queue(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _flavor, cq, lq = _queues(k, "0")
    other = uid("lq")
    k.local_queue(other, cq)
    k.job("a1", lq)
    k.job("b1", other)
    k.job("a2", lq)
    items = wait_for(lambda: len(k.pending_in_cq(cq)) == 3 and k.pending_in_cq(cq))
    assert [(i["localQueueName"], i["positionInLocalQueue"]) for i in items] == [
        (lq, 0),
        (other, 0),
        (lq, 1),
    ]
    mine = k.pending_in_lq(lq)
    assert owner_names(mine) == ["a1", "a2"]
    assert [(i["positionInClusterQueue"], i["positionInLocalQueue"]) for i in mine] == [
        (0, 0),
        (2, 1),
    ]
    page = k.co.api_client.call_api(
        f"/apis/visibility.kueue.x-k8s.io/v1beta1/clusterqueues/{cq}/pendingworkloads",
        "GET",
        query_params=[("limit", "1"), ("offset", "1")],
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
    assert owner_names(page["items"]) == ["b1"]
    assert page["items"][0]["positionInClusterQueue"] == 1


def test_strict_fifo_blocks_behind_its_head_best_effort_does_not(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _f, _strict_cq, strict = _queues(k, "2", strategy="StrictFIFO")
    _f, _best_cq, best = _queues(k, "2", strategy="BestEffortFIFO")
    for lq, prefix in ((strict, "s"), (best, "b")):
        k.job(f"{prefix}-small", lq, "1")
        k.wait_admitted(f"{prefix}-small")
        k.job(f"{prefix}-big", lq, "2")  # cannot fit while the small one runs
        wait_for(lambda p=prefix: k.condition(f"{p}-big", "QuotaReserved"), what="big's reason")
        k.job(f"{prefix}-next", lq, "1")  # fits the remaining cpu
    k.wait_admitted("b-next")
    assert not k.admitted("s-next")  # blocked behind s-big
    assert k.suspended("s-next")
    k.batch.delete_namespaced_job("s-small", namespace)
    k.wait_admitted("s-big")
    assert not k.admitted("s-next")


def test_watch_on_workloads_delivers_condition_changes(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _flavor, _cq, lq = _queues(k, "1")
    k.job("holder", lq)
    k.wait_admitted("holder")
    seen: list[tuple[str, str, str]] = []
    w = watch.Watch()
    rv = k.co.list_namespaced_custom_object(G, V, namespace, "workloads")["metadata"][
        "resourceVersion"
    ]

    def follow() -> None:
        for event in w.stream(
            k.co.list_namespaced_custom_object,
            G,
            V,
            namespace,
            "workloads",
            resource_version=rv,
            timeout_seconds=15,
        ):
            obj = event["object"]
            if not obj["metadata"]["name"].startswith("job-later-"):
                continue
            for cond in (obj.get("status") or {}).get("conditions") or ():
                if cond["type"] == "QuotaReserved":
                    seen.append((event["type"], cond["status"], cond["reason"]))
            if any(s[1] == "True" for s in seen):
                w.stop()

    thread = threading.Thread(target=follow)
    thread.start()
    k.job("later", lq)
    wait_for(lambda: k.condition("later", "QuotaReserved"), what="pending reason")
    k.batch.delete_namespaced_job("holder", namespace)
    thread.join(20)
    assert ("MODIFIED", "False", "WaitingForQuota") in seen
    assert seen[-1] == ("MODIFIED", "True", "QuotaReserved")
    assert isinstance(k.co, client.CustomObjectsApi)


def test_missing_queues_flavors_and_classes_wait_with_a_reason(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    lq, cq, flavor, wpc = uid("lq"), uid("cq"), uid("rf"), uid("wpc")
    k.job("early", lq)
    waiting = wait_for(lambda: k.condition("early", "QuotaReserved"), what="a reason")
    assert (waiting["reason"], waiting["message"]) == (
        "Misconfigured",
        f"LocalQueue {lq} doesn't exist",
    )
    k.local_queue(lq, cq)
    wait_for(
        lambda: (
            k.condition("early", "QuotaReserved")["message"] == f"ClusterQueue {cq} doesn't exist"
        ),
        what="the ClusterQueue's absence",
    )
    lq_status = wait_for(
        lambda: k.co.get_namespaced_custom_object(G, V, namespace, "localqueues", lq).get("status")
    )
    assert lq_status["conditions"][0]["reason"] == "ClusterQueueDoesNotExist"
    k.cluster_queue(cq, flavor, "4")  # names a flavor that does not exist yet
    inactive = wait_for(
        lambda: (c := k.condition("early", "QuotaReserved")) and c["reason"] == "Suspended" and c,
        what="inactive",
    )
    assert inactive["message"] == f"ClusterQueue {cq} is inactive"
    active = wait_for(lambda: k.cq_status(cq).get("conditions"))[0]
    assert (active["status"], active["reason"]) == ("False", "FlavorNotFound")
    k.job("classy", lq, priority=wpc)  # its priority class is missing: no Workload yet
    events = client.CoreV1Api(k8s_api_client)
    wait_for(
        lambda: any(
            e.reason == "ErrorCreatingWorkload" and wpc in e.message
            for e in events.list_namespaced_event(namespace).items
        ),
        what="the event",
    )
    assert k.workload_of("classy") is None
    k.flavor(flavor)
    k.wait_admitted("early")
    k.priority_class(wpc, 7)
    k.wait_admitted("classy")
    assert k.workload_of("classy")["spec"]["priority"] == 7


def test_without_a_workload_class_the_pods_priority_class_sets_priority(
    k8s_api_client, namespace
) -> None:
    k = Kueue(k8s_api_client, namespace)
    _flavor, _cq, lq = _queues(k, "0")
    name = uid("pc")
    client.SchedulingV1Api(k8s_api_client).create_priority_class(
        {"metadata": {"name": name}, "value": 321}
    )
    k.batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "pods-class", "labels": {"kueue.x-k8s.io/queue-name": lq}},
            "spec": {
                "template": {
                    "spec": {
                        "priorityClassName": name,
                        "restartPolicy": "Never",
                        "containers": [{"name": "m", "image": "busybox"}],
                    }
                }
            },
        },
    )
    wl = wait_for(lambda: k.workload_of("pods-class"), what="the workload")
    assert wl["spec"]["priority"] == 321
    assert wl["spec"]["priorityClassRef"] == {
        "group": "scheduling.k8s.io",
        "kind": "PriorityClass",
        "name": name,
    }
    old = k.co.get_namespaced_custom_object(
        G, "v1beta1", namespace, "workloads", wl["metadata"]["name"]
    )
    assert old["spec"]["priorityClassSource"] == "scheduling.k8s.io/priorityclass"
