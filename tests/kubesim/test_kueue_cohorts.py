"""kubesim's Kueue: borrowing and lending in a cohort, reclaim and priority preemption."""

from __future__ import annotations

import time

from tests.kubesim.kueue_helpers import G, Kueue, V, uid, wait_for


def _cohort(k: Kueue, a: dict, b: dict) -> tuple[str, str, str, str, str]:
    """Make ClusterQueues A and B (keyword arguments ``a`` and ``b``) in one cohort, a
    LocalQueue for each; return (flavor, cq a, cq b, lq a, lq b)."""
    flavor, cohort = uid("rf"), uid("cohort")
    k.flavor(flavor, labels={"kubesim.io/pool": "cpu"})
    cq_a, cq_b, lq_a, lq_b = uid("team-a"), uid("team-b"), uid("lq-a"), uid("lq-b")
    k.cluster_queue(cq_a, flavor, cohort=cohort, **a)
    k.cluster_queue(cq_b, flavor, cohort=cohort, **b)
    k.local_queue(lq_a, cq_a)
    k.local_queue(lq_b, cq_b)
    return flavor, cq_a, cq_b, lq_a, lq_b


def _borrowed(k: Kueue, cq: str) -> str:
    rows = k.cq_status(cq).get("flavorsReservation") or [{"resources": [{}]}]
    return rows[0]["resources"][0].get("borrowed", "")


def test_borrowing_then_reclaim_by_the_lenders_new_job(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _flavor, cq_a, cq_b, lq_a, lq_b = _cohort(
        k, {"cpu": "2", "reclaim": "Any"}, {"cpu": "2", "reclaim": "Any"}
    )
    for i in range(4):
        k.job(f"b{i}", lq_b)
    k.wait_admitted("b0", "b1", "b2", "b3")  # two of them on team-a's idle quota
    assert wait_for(lambda: _borrowed(k, cq_b) == "2", what="2 cpu borrowed")
    k.job("a0", lq_a, seconds=3)
    k.wait_admitted("a0")
    # The most recently admitted borrower gave way.
    evicted = wait_for(lambda: k.condition("b3", "Evicted"), what="b3 evicted")
    preempted = k.condition("b3", "Preempted")
    a0 = k.workload_of("a0")
    assert (evicted["status"], evicted["reason"]) == ("True", "Preempted")
    assert (preempted["status"], preempted["reason"]) == ("True", "InCohortReclamation")
    cohort = k.co.get_cluster_custom_object("kueue.x-k8s.io", "v1beta2", "clusterqueues", cq_a)[
        "spec"
    ]["cohortName"]
    assert preempted["message"] == (
        f"Preempted to accommodate a workload (UID: {a0['metadata']['uid']}, JobUID: "
        f"{a0['metadata']['labels']['kueue.x-k8s.io/job-uid']}) due to reclamation within "
        f"the cohort; preemptor path: /{cohort}/{cq_a}; preemptee path: /{cohort}/{cq_b}"
    )
    assert evicted["message"] == preempted["message"]
    assert k.suspended("b3")
    assert k.batch.read_namespaced_job("b3", namespace).spec.template.spec.node_selector is None
    requeued = wait_for(lambda: k.condition("b3", "Requeued"), what="requeued")
    assert (requeued["status"], requeued["reason"]) == ("True", "Preempted")
    reserved = k.condition("b3", "QuotaReserved")
    # PendingEvaluation when requeued, then the scheduler's own reason once it looked.
    assert reserved["status"] == "False"
    assert reserved["reason"] in ("PendingEvaluation", "WaitingForQuota")
    assert k.condition("b3", "Admitted")["reason"] == "NoReservation"
    assert "admission" not in k.workload_of("b3")["status"]
    assert all(k.admitted(f"b{i}") for i in range(3))
    # a0 finishes: the borrower runs again, its old conditions marked as previous.
    k.wait_admitted("b3")
    assert not k.suspended("b3")
    assert k.condition("b3", "Evicted")["status"] == "False"
    assert k.condition("b3", "Evicted")["message"].startswith("Previously: Preempted to")
    assert k.condition("a0", "Finished")["status"] == "True"


def test_lending_limit_caps_what_the_cohort_may_borrow(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _flavor, cq_a, cq_b, lq_a, lq_b = _cohort(k, {"cpu": "2", "lending": "1"}, {"cpu": "2"})
    for i in range(5):
        k.job(f"b{i}", lq_b)
    k.wait_admitted("b0", "b1", "b2")
    waiting = wait_for(lambda: k.condition("b3", "QuotaReserved"), what="b3 waits")
    assert waiting["status"] == "False" and "1 more needed" in waiting["message"]
    assert _borrowed(k, cq_b) == "1"
    # team-a still has its own (unlent) cpu plus what it lends back.
    k.job("a0", lq_a)
    k.job("a1", lq_a)
    k.wait_admitted("a0")
    assert not k.admitted("a1")  # the lent cpu is in use and nobody may reclaim it


def test_borrowing_limit_caps_what_a_queue_may_take(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _flavor, _cq_a, cq_b, _lq_a, lq_b = _cohort(k, {"cpu": "3"}, {"cpu": "1", "borrowing": "1"})
    for i in range(3):
        k.job(f"b{i}", lq_b)
    k.wait_admitted("b0", "b1")
    wait_for(lambda: k.condition("b2", "QuotaReserved"), what="b2 waits")
    assert not k.admitted("b2")
    assert _borrowed(k, cq_b) == "1"


def test_preemption_within_cluster_queue_by_priority(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    flavor, cq, lq = uid("rf"), uid("cq"), uid("lq")
    k.flavor(flavor)
    k.cluster_queue(cq, flavor, "1", within="LowerPriority")
    k.local_queue(lq, cq)
    k.priority_class(low := uid("low"), 1)
    k.priority_class(high := uid("high"), 100)
    k.job("low", lq, priority=low)
    k.wait_admitted("low")
    k.job("same", lq, priority=low)  # equal priority never preempts
    wait_for(lambda: k.condition("same", "QuotaReserved"), what="same waits")
    assert k.admitted("low")
    k.job("high", lq, priority=high)
    k.wait_admitted("high")
    preempted = k.condition("low", "Preempted")
    assert (preempted["status"], preempted["reason"]) == ("True", "InClusterQueue")
    assert "due to prioritization in the ClusterQueue" in preempted["message"]
    assert f"preemptor path: /{cq}; preemptee path: /{cq}" in preempted["message"]
    assert k.suspended("low") and not k.admitted("same")
    # FIFO among equals once the queue frees: the evicted one was requeued after "same".
    k.batch.delete_namespaced_job("high", namespace)
    k.wait_admitted("same")
    assert not k.admitted("low")


def test_no_preemption_when_the_policy_says_never(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _flavor, _cq_a, _cq_b, lq_a, lq_b = _cohort(k, {"cpu": "1"}, {"cpu": "1"})
    k.job("b0", lq_b)
    k.job("b1", lq_b)
    k.wait_admitted("b0", "b1")
    k.job("a0", lq_a)
    wait_for(lambda: k.condition("a0", "QuotaReserved"), what="a0 waits")
    assert k.admitted("b1") and not k.admitted("a0")
    assert k.condition("b1", "Evicted") is None


def test_lower_or_newer_equal_priority_preempts_a_newer_equal(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    flavor = uid("rf")
    k.flavor(flavor)
    queues = {}
    for policy in ("LowerOrNewerEqualPriority", "LowerPriority"):
        cq, lq = uid("cq"), uid("lq")
        k.cluster_queue(cq, flavor, "1", within=policy)
        k.local_queue(lq, cq)
        queues[policy] = (cq, lq)
    for policy, (_cq, lq) in queues.items():
        k.job(f"old-{policy.lower()}", lq, "2")  # waits: more than the queue holds
    time.sleep(1.1)  # creation times have one-second precision
    for policy, (_cq, lq) in queues.items():
        k.job(f"new-{policy.lower()}", lq, "1")
        k.wait_admitted(f"new-{policy.lower()}")
    for cq, _lq in queues.values():
        k.co.patch_cluster_custom_object(
            G,
            V,
            "clusterqueues",
            cq,
            {
                "spec": {
                    "resourceGroups": [
                        {
                            "coveredResources": ["cpu"],
                            "flavors": [
                                {
                                    "name": flavor,
                                    "resources": [{"name": "cpu", "nominalQuota": "2"}],
                                }
                            ],
                        }
                    ]
                }
            },
        )
    k.wait_admitted("old-lowerornewerequalpriority")
    assert k.condition("new-lowerornewerequalpriority", "Preempted")["reason"] == "InClusterQueue"
    wait_for(
        lambda: (
            "1 more needed"
            in (k.condition("old-lowerpriority", "QuotaReserved") or {}).get("message", "")
        ),
        what="the old job still waiting",
    )
    assert k.admitted("new-lowerpriority") and not k.admitted("old-lowerpriority")


def _borrowers(k: Kueue, threshold: int) -> None:
    """Team-a (borrowWithinCohort up to ``threshold``) runs a0; team-b runs b0 and b1,
    b1 on team-c's idle cpu (priority 10); then team-a's high-priority a1 needs to borrow."""
    flavor, cohort = uid("rf"), uid("cohort")
    k.flavor(flavor)
    names = {}
    policy = {"policy": "LowerPriority", "maxPriorityThreshold": threshold}
    for team, extra in (("a", {"borrow_within": policy}), ("b", {}), ("c", {})):
        cq, lq = uid(f"cq-{team}"), uid(f"lq-{team}")
        k.cluster_queue(cq, flavor, "1", cohort=cohort, **extra)
        k.local_queue(lq, cq)
        names[team] = lq
    k.priority_class(low := uid("low"), 10)
    k.priority_class(high := uid("high"), 1000)
    k.job("a0", names["a"], priority=low)
    k.wait_admitted("a0")
    k.job("b0", names["b"], priority=low)
    k.job("b1", names["b"], priority=low)
    k.wait_admitted("b0", "b1")
    k.job("a1", names["a"], priority=high)


def test_borrow_within_cohort_preempts_a_lower_priority_borrower(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _borrowers(k, threshold=50)
    k.wait_admitted("a1")
    preempted = k.condition("b1", "Preempted")
    assert (preempted["status"], preempted["reason"]) == ("True", "InCohortReclaimWhileBorrowing")
    assert "due to reclamation within the cohort while borrowing" in preempted["message"]
    assert k.admitted("b0") and k.admitted("a0")  # b0 is within team-b's nominal quota


def test_borrow_within_cohort_respects_its_priority_threshold(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    _borrowers(k, threshold=5)  # b1's priority 10 is above it
    waiting = wait_for(lambda: k.condition("a1", "QuotaReserved"), what="a1 waits")
    assert waiting["status"] == "False" and "1 more needed" in waiting["message"]
    assert not k.admitted("a1") and k.condition("b1", "Preempted") is None
