"""kubesim's Kueue API surface: CRDs, versions, discovery, the visibility API, kubectl."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, watch

from kubesim.server import KubeSim
from tests.kubesim.conftest import make_client
from tests.kubesim.kubectl_run import kubectl
from tests.kubesim.kueue_helpers import VIS, G, Kueue, V, uid, wait_for

KINDS = ("resourceflavors", "clusterqueues", "localqueues", "workloads", "workloadpriorityclasses")


@pytest.fixture(scope="module")
def tls_kueue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSim]:
    path = tmp_path_factory.mktemp("kueue") / "kubeconfig"
    sim = KubeSim(tls=True, kubeconfig=str(path), speed=20).start()
    yield sim
    sim.stop()


def _raw(api: client.ApiClient, path: str, query: list | None = None) -> tuple[int, dict]:
    try:
        body, code, _headers = api.call_api(
            path,
            "GET",
            query_params=query or [],
            auth_settings=["BearerToken"],
            response_types_map={200: "object"},
        )
    except client.ApiException as exc:
        return exc.status, json.loads(exc.body)
    return code, body


def test_crds_versions_and_discovery(k8s_api_client) -> None:
    ext = client.ApiextensionsV1Api(k8s_api_client)
    names = {c.metadata.name for c in ext.list_custom_resource_definition().items}
    assert {f"{k}.{G}" for k in KINDS} <= names
    crd = ext.read_custom_resource_definition(f"workloads.{G}")
    assert [(v.name, v.served, v.storage) for v in crd.spec.versions] == [
        ("v1beta2", True, True),
        ("v1beta1", True, False),
    ]
    assert crd.spec.names.short_names == ["kwl", "kueueworkload", "kueueworkloads"]
    apis = client.ApisApi(k8s_api_client).get_api_versions()
    groups = {g.name: g for g in apis.groups}
    assert groups[G].preferred_version.version == "v1beta2"
    assert [v.version for v in groups[VIS].versions] == ["v1beta2", "v1beta1"]
    _code, resources = _raw(k8s_api_client, f"/apis/{VIS}/v1beta1")
    listed = {r["name"]: r for r in resources["resources"]}
    assert listed["clusterqueues/pendingworkloads"]["kind"] == "PendingWorkloadsSummary"
    assert listed["localqueues/pendingworkloads"]["namespaced"] is True
    assert listed["clusterqueues/pendingworkloads"]["verbs"] == ["get"]
    services = client.ApiregistrationV1Api(k8s_api_client).list_api_service().items
    assert {f"v1beta1.{VIS}", f"v1beta2.{VIS}"} <= {s.metadata.name for s in services}


def test_v1beta1_writes_and_reads_are_converted(k8s_api_client) -> None:
    co = client.CustomObjectsApi(k8s_api_client)
    name = uid("old")
    body = {
        "apiVersion": f"{G}/v1beta1",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {"cohort": "research", "resourceGroups": []},
    }
    created = co.create_cluster_custom_object(G, "v1beta1", "clusterqueues", body)
    assert created["apiVersion"] == f"{G}/v1beta1" and created["spec"]["cohort"] == "research"
    stored = co.get_cluster_custom_object(G, V, "clusterqueues", name)
    assert stored["spec"]["cohortName"] == "research" and "cohort" not in stored["spec"]
    co.patch_cluster_custom_object(G, "v1beta1", "clusterqueues", name, {"spec": {"cohort": "x"}})
    assert co.get_cluster_custom_object(G, V, "clusterqueues", name)["spec"]["cohortName"] == "x"
    listed = co.list_cluster_custom_object(G, "v1beta1", "clusterqueues")["items"]
    mine = next(i for i in listed if i["metadata"]["name"] == name)
    assert mine["spec"]["cohort"] == "x" and mine["apiVersion"] == f"{G}/v1beta1"


def test_the_visibility_api_refuses_bad_requests(k8s_api_client, namespace) -> None:
    code, body = _raw(k8s_api_client, f"/apis/{VIS}/v1beta1/clusterqueues/nope/pendingworkloads")
    assert code == 404 and body["reason"] == "NotFound" and "nope" in body["message"]
    code, body = _raw(
        k8s_api_client,
        f"/apis/{VIS}/v1beta1/namespaces/{namespace}/localqueues/nope/pendingworkloads",
    )
    assert code == 404
    k = Kueue(k8s_api_client, namespace)
    k.flavor(flavor := uid("rf"))
    k.cluster_queue(cq := uid("cq"), flavor, "1")
    code, body = _raw(
        k8s_api_client,
        f"/apis/{VIS}/v1beta1/clusterqueues/{cq}/pendingworkloads",
        [("limit", "many")],
    )
    assert code == 400 and "limit" in body["message"]
    code, _ = _raw(k8s_api_client, f"/apis/{VIS}/v1beta1/clusterqueues/{cq}/other")
    assert code == 404


def test_visibility_needs_rbac(kubesim_server: KubeSim, namespace) -> None:
    kubesim_server.ensure_service_account(namespace, "viewer")
    api = make_client(kubesim_server, kubesim_server.service_account_token(namespace, "viewer"))
    try:
        code, body = _raw(api, f"/apis/{VIS}/v1beta1/clusterqueues/any/pendingworkloads")
    finally:
        api.close()
    assert code == 403
    assert "clusterqueues/pendingworkloads" in body["message"] or "pendingworkloads" in str(
        body.get("details")
    )


def test_kueue_can_be_switched_off() -> None:
    with KubeSim(kueue=False, controllers=True, speed=20) as sim:
        api = make_client(sim)
        try:
            names = {
                c.metadata.name
                for c in client.ApiextensionsV1Api(api).list_custom_resource_definition().items
            }
            assert not any(n.endswith(G) for n in names)
            groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
            assert G not in groups and VIS not in groups
            code, _ = _raw(api, f"/apis/{VIS}/v1beta1/clusterqueues/cq/pendingworkloads")
            assert code == 404
            job = client.BatchV1Api(api).create_namespaced_job(
                "default",
                {
                    "metadata": {"name": "free", "labels": {"kueue.x-k8s.io/queue-name": "q"}},
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
            assert not job.spec.suspend  # nobody suspends it without Kueue
        finally:
            api.close()


def test_without_controllers_the_visibility_server_is_unavailable() -> None:
    with KubeSim(controllers=False) as sim:
        api = make_client(sim)
        try:
            code, body = _raw(api, f"/apis/{VIS}/v1beta1/clusterqueues/cq/pendingworkloads")
        finally:
            api.close()
    assert code == 503 and body["reason"] == "ServiceUnavailable"


@pytest.mark.kubectl
def test_kubectl_reads_queues_workloads_and_the_visibility_api(
    tls_kueue: KubeSim, tmp_path: Path
) -> None:
    api = make_client(tls_kueue)
    try:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "kq"}})
        k = Kueue(api, "kq")
        k.flavor("default-flavor")
        k.cluster_queue("cq", "default-flavor", "1")
        k.local_queue("lq", "cq")
        k.job("first", "lq")
        k.job("second", "lq")
        k.wait_admitted("first")
        wait_for(lambda: k.pending_in_cq("cq"), what="a pending workload")
    finally:
        api.close()
    raw = kubectl(
        tls_kueue, "get", "--raw", f"/apis/{VIS}/v1beta1/clusterqueues/cq/pendingworkloads"
    )
    assert '"positionInClusterQueue":0' in raw.replace(" ", "")
    assert "job-second-" in raw
    out = kubectl(tls_kueue, "get", "clusterqueues")
    assert out.split("\n")[0].split()[:3] == ["NAME", "COHORT", "STRATEGY"]
    assert "cq" in out
    wl = kubectl(tls_kueue, "get", "kwl", "-n", "kq", "-o", "name")
    assert wl.count("workload.kueue.x-k8s.io/job-") == 2
    lq = kubectl(
        tls_kueue, "get", "lq", "-n", "kq", "-o", "jsonpath={.items[0].status.pendingWorkloads}"
    )
    assert lq == "1"
    resources = kubectl(tls_kueue, "api-resources", "--api-group", G)
    assert "workloadpriorityclasses" in resources and "resourceflavors" in resources


def _queue_body(name: str, resources: list[dict], **spec) -> dict:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "resourceGroups": [
                {"coveredResources": ["cpu"], "flavors": [{"name": "f", "resources": resources}]}
            ],
            **spec,
        },
    }


def test_the_cluster_queue_webhook_refuses_bad_quotas(k8s_api_client) -> None:
    co = client.CustomObjectsApi(k8s_api_client)
    path = "spec.resourceGroups[0].flavors[0].resources[0]"
    cases = [
        (
            [{"name": "cpu", "nominalQuota": "-1"}],
            {},
            f'{path}.nominalQuota: Invalid value: "-1": must be greater than or equal to 0',
        ),
        (
            [{"name": "cpu", "nominalQuota": "4", "borrowingLimit": "1"}],
            {},
            f'{path}.borrowingLimit: Invalid value: "1": must be nil when cohort is empty',
        ),
        (
            [{"name": "cpu", "nominalQuota": "4", "lendingLimit": "5"}],
            {"cohortName": "c"},
            f'{path}.lendingLimit: Invalid value: "5": must be less than or equal to the '
            "nominalQuota",
        ),
        (
            [{"name": "memory", "nominalQuota": "4"}],
            {},
            f'{path}.name: Invalid value: "memory": must match the name in coveredResources',
        ),
        (
            [{"name": "cpu", "nominalQuota": "4"}],
            {"queueingStrategy": "Random"},
            'spec.queueingStrategy: Unsupported value: "Random": supported values: '
            '"StrictFIFO", "BestEffortFIFO"',
        ),
    ]
    for resources, spec, sentence in cases:
        name = uid("bad")
        with pytest.raises(client.ApiException) as caught:
            co.create_cluster_custom_object(
                G, V, "clusterqueues", _queue_body(name, resources, **spec)
            )
        body = json.loads(caught.value.body)
        assert caught.value.status == 422 and body["reason"] == "Invalid"
        assert body["message"] == f'ClusterQueue.kueue.x-k8s.io "{name}" is invalid: {sentence}'
        assert body["details"]["causes"][0]["field"] == sentence.split(":")[0]
    good = uid("good")
    co.create_cluster_custom_object(
        G, V, "clusterqueues", _queue_body(good, [{"name": "cpu", "nominalQuota": "4"}])
    )
    with pytest.raises(client.ApiException) as caught:
        co.patch_cluster_custom_object(
            G,
            V,
            "clusterqueues",
            good,
            {"spec": _queue_body(good, [{"name": "cpu", "nominalQuota": "-2"}])["spec"]},
        )
    assert caught.value.status == 422 and "must be greater than or equal to 0" in caught.value.body


def test_a_deleted_cluster_queue_waits_for_its_workloads(k8s_api_client, namespace) -> None:
    k = Kueue(k8s_api_client, namespace)
    k.flavor(flavor := uid("rf"))
    cq, lq = uid("cq"), uid("lq")
    created = k.cluster_queue(cq, flavor, "1")
    assert created["metadata"]["finalizers"] == ["kueue.x-k8s.io/resource-in-use"]
    k.local_queue(lq, cq)
    k.job("running", lq)
    k.wait_admitted("running")
    k.co.delete_cluster_custom_object(G, V, "clusterqueues", cq)
    held = k.co.get_cluster_custom_object(G, V, "clusterqueues", cq)
    assert held["metadata"]["deletionTimestamp"]
    active = wait_for(
        lambda: (c := k.cq_status(cq)["conditions"][0])["reason"] == "Terminating" and c,
        what="terminating",
    )
    assert active["message"] == "Can't admit new workloads; clusterQueue is terminating"
    k.job("later", lq)
    wait_for(lambda: k.condition("later", "QuotaReserved"), what="later waits")
    assert not k.admitted("later")
    k.batch.delete_namespaced_job("running", namespace)

    def gone() -> bool:
        try:
            k.co.get_cluster_custom_object(G, V, "clusterqueues", cq)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, what="the ClusterQueue gone")
    waiting = wait_for(
        lambda: (c := k.condition("later", "QuotaReserved"))["reason"] == "Misconfigured" and c,
        what="later misconfigured",
    )
    assert waiting["message"] == f"ClusterQueue {cq} doesn't exist"


def test_a_watch_at_v1beta1_sees_converted_objects(k8s_api_client) -> None:
    co = client.CustomObjectsApi(k8s_api_client)
    rv = co.list_cluster_custom_object(G, "v1beta1", "clusterqueues")["metadata"]["resourceVersion"]
    name = uid("watched")
    co.create_cluster_custom_object(
        G,
        V,
        "clusterqueues",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "ClusterQueue",
            "metadata": {"name": name},
            "spec": {"cohortName": "seen", "resourceGroups": []},
        },
    )
    stream = watch.Watch().stream(
        co.list_cluster_custom_object,
        G,
        "v1beta1",
        "clusterqueues",
        resource_version=rv,
        timeout_seconds=5,
    )
    for event in stream:
        obj = event["object"]
        if obj["metadata"]["name"] == name:
            assert obj["apiVersion"] == f"{G}/v1beta1"
            assert obj["spec"]["cohort"] == "seen" and "cohortName" not in obj["spec"]
            break
    else:
        raise AssertionError("no event for the new ClusterQueue")
