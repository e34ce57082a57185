"""Compute targets (namespace, quota), instance types (validation, two-way sync, fit), requests."""

import pytest
from django.core.exceptions import ValidationError

from compute import services, tasks
from compute.models import ComputeRequest, ComputeTarget, InstanceType, RequestStatus, TargetStatus

pytestmark = pytest.mark.django_db(transaction=True)


def ns_of(sim, name):
    found = sim.call(
        lambda: sim.store.list("namespaces", field_selector=f"metadata.name={name}")[0]
    )
    return found[0] if found else None


def test_target_creates_labelled_namespace_and_quota(attach, sim, team_a):
    cluster = attach()
    target = services.target_create(
        workspace=team_a,
        cluster=cluster,
        name="gpu-target",
        namespace="team-a-gpu",
        create_namespace=True,
        quota_cpu="8",
        quota_memory="32Gi",
        quota_gpu=2,
        quota_pods=10,
    )
    target.refresh_from_db()
    assert target.status == TargetStatus.SUCCEEDED, target.status_reason
    namespace = ns_of(sim, "team-a-gpu")
    assert namespace["metadata"]["labels"]["kubeportal.io/workspace"] == "team-a"
    quota = sim.call(
        lambda: sim.store.get("resourcequotas", "kubeportal-quota", namespace="team-a-gpu")
    )
    assert quota["spec"]["hard"] == {
        "requests.cpu": "8",
        "limits.cpu": "8",
        "requests.memory": "32Gi",
        "limits.memory": "32Gi",
        "requests.nvidia.com/gpu": "2",
        "pods": "10",
    }
    assert target.quota_hard["pods"] == "10"
    assert {row["resource"] for row in target.quota_rows()} >= {"pods", "requests.cpu"}
    claim = sim.call(
        lambda: sim.store.get("persistentvolumeclaims", "portal-outputs", namespace="team-a-gpu")
    )
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_missing_namespace_without_consent_fails_with_a_reason(attach, team_a):
    cluster = attach()
    with pytest.raises(ValidationError, match="does not exist"):
        services.target_create(
            workspace=team_a,
            cluster=cluster,
            name="t1",
            namespace="nowhere",
            create_namespace=False,
        )
    assert not ComputeTarget.objects.filter(name="t1").exists()


def test_invalid_namespace_name_and_duplicate_target(attach, team_a):
    cluster = attach()
    with pytest.raises(ValidationError) as err:
        services.target_create(
            workspace=team_a, cluster=cluster, name="t2", namespace="Bad_NS", create_namespace=True
        )
    assert "namespace" in err.value.message_dict
    services.target_create(
        workspace=team_a, cluster=cluster, name="t3", namespace="team-a", create_namespace=True
    )
    with pytest.raises(ValidationError, match="already has a compute target"):
        services.target_create(
            workspace=team_a, cluster=cluster, name="t3", namespace="team-a", create_namespace=True
        )


def test_quota_below_usage_is_refused_and_usage_shows(attach, sim, team_a):
    cluster = attach()
    target = services.target_create(
        workspace=team_a,
        cluster=cluster,
        name="q",
        namespace="quota-ns",
        create_namespace=True,
        quota_pods=5,
        quota_cpu="4",
        quota_memory="8Gi",
    )

    def run_pod():
        sim.store.create(
            "pods",
            {
                "metadata": {
                    "name": "busy",
                    "namespace": "quota-ns",
                    "annotations": {"kubesim.io/run-forever": "true"},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "x",
                            "resources": {
                                "requests": {"cpu": "2", "memory": "1Gi"},
                                "limits": {"cpu": "2", "memory": "1Gi"},
                            },
                        }
                    ]
                },
            },
            namespace="quota-ns",
        )

    sim.call(run_pod)
    tasks.cluster_sync(cluster.pk)
    target.refresh_from_db()
    assert target.quota_used["requests.cpu"] == "2"
    with pytest.raises(ValidationError) as err:
        services.target_set_quota(
            target=target, quota_cpu="1", quota_memory="8Gi", quota_gpu=None, quota_pods=5
        )
    assert (
        "quota_cpu" in err.value.message_dict
        and "in use now" in err.value.message_dict["quota_cpu"][0]
    )
    target.refresh_from_db()
    assert target.quota_cpu == "4"  # nothing stored changed
    services.target_set_quota(
        target=target, quota_cpu="6", quota_memory="8Gi", quota_gpu=None, quota_pods=5
    )
    quota = sim.call(
        lambda: sim.store.get("resourcequotas", "kubeportal-quota", namespace="quota-ns")
    )
    assert quota["spec"]["hard"]["requests.cpu"] == "6"


@pytest.mark.parametrize(
    "requests,limits,field,message",
    [
        ({"cpu": "1"}, {"cpu": "2", "memory": "4Gi"}, "resources.requests.memory", "required"),
        (
            {"cpu": "abc", "memory": "1Gi"},
            {"cpu": "2", "memory": "4Gi"},
            "resources.requests.cpu",
            "not a Kubernetes quantity",
        ),
        (
            {"cpu": "4", "memory": "1Gi"},
            {"cpu": "2", "memory": "4Gi"},
            "resources.requests.cpu",
            "more than the limit",
        ),
        (
            {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"},
            {"cpu": "2", "memory": "4Gi"},
            "resources.requests.nvidia.com/gpu",
            "limits only",
        ),
        (
            {"cpu": "1", "memory": "1Gi"},
            {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1.5"},
            "resources.limits.nvidia.com/gpu",
            "whole number",
        ),
        (
            {"cpu": "0", "memory": "1Gi"},
            {"cpu": "2", "memory": "4Gi"},
            "resources.requests.cpu",
            "greater than zero",
        ),
    ],
)
def test_instance_type_validation_names_the_field(attach, requests, limits, field, message):
    cluster = attach()
    with pytest.raises(ValidationError) as err:
        services.instance_type_save(
            cluster=cluster, name="bad", node_selector={}, requests=requests, limits=limits
        )
    assert field in err.value.message_dict
    assert message in " ".join(err.value.message_dict[field])
    assert not InstanceType.objects.filter(name="bad").exists()


@pytest.mark.parametrize("value", ["1", "500m", "1.5", "2Gi", "1500Mi", "1e3"])
def test_quantities_parse_like_kubernetes(value):
    from compute import quantity

    assert quantity.parse(value) > 0


def test_instance_type_goes_to_the_cluster_and_fit_is_computed(attach, sim):
    cluster = attach()
    gpu = services.instance_type_save(
        cluster=cluster,
        name="gpu-small",
        node_selector={"accelerator": "nvidia-a100"},
        requests={"cpu": "4", "memory": "16Gi"},
        limits={"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
    )
    gpu.refresh_from_db()
    assert gpu.sync_state == "in_cluster"
    obj = sim.call(lambda: sim.store.get("instancetypes.kubeportal.io", "gpu-small"))
    assert obj["spec"]["nodeSelector"] == {"accelerator": "nvidia-a100"}
    assert obj["spec"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert sorted(gpu.fitting_nodes) == ["gpu-0", "gpu-1"]
    assert gpu.capacity_slots == 8  # 4 GPUs on each of 2 nodes
    huge = services.instance_type_save(
        cluster=cluster,
        name="huge",
        node_selector={},
        requests={"cpu": "64", "memory": "16Gi"},
        limits={"cpu": "64", "memory": "16Gi"},
    )
    huge.refresh_from_db()
    assert huge.fitting_nodes == [] and not huge.fits_somewhere


def test_instance_types_made_with_kubectl_appear_and_deletions_sync(attach, sim):
    cluster = attach()

    def create_remote():
        sim.store.create(
            "instancetypes.kubeportal.io",
            {
                "apiVersion": "kubeportal.io/v1alpha1",
                "kind": "InstanceType",
                "metadata": {"name": "from-kubectl"},
                "spec": {
                    "resources": {
                        "requests": {"cpu": "1", "memory": "1Gi"},
                        "limits": {"cpu": "1", "memory": "1Gi"},
                    }
                },
            },
        )

    sim.call(create_remote)
    tasks.cluster_sync(cluster.pk)
    found = InstanceType.objects.get(cluster=cluster, name="from-kubectl")
    assert found.origin == InstanceType.Origin.CLUSTER and found.fitting_nodes
    sim.call(lambda: sim.store.delete("instancetypes.kubeportal.io", "from-kubectl"))
    tasks.cluster_sync(cluster.pk)
    assert not InstanceType.objects.filter(cluster=cluster, name="from-kubectl").exists()


def test_azure_manifest_imports(attach, sim):
    cluster = attach()
    manifest = """
apiVersion: amlarc.azureml.com/v1alpha1
kind: InstanceTypeList
items:
  - metadata: {name: cpu-big}
    apiVersion: amlarc.azureml.com/v1alpha1
    kind: InstanceType
    spec:
      resources:
        requests: {cpu: "2", memory: "8Gi"}
        limits: {cpu: "4", memory: "8Gi"}
"""
    saved = services.instance_types_import(cluster=cluster, text=manifest)
    assert [it.name for it in saved] == ["cpu-big"]
    assert (
        sim.call(lambda: sim.store.get("instancetypes.kubeportal.io", "cpu-big"))["apiVersion"]
        == "kubeportal.io/v1alpha1"
    )
    with pytest.raises(ValidationError, match="line"):
        services.instance_types_import(cluster=cluster, text="items: [")


def test_allowed_instance_types_limit_what_members_see(attach, team_a, client_for):
    cluster = attach()
    small = services.instance_type_save(
        cluster=cluster,
        name="small",
        node_selector={},
        requests={"cpu": "1", "memory": "1Gi"},
        limits={"cpu": "1", "memory": "1Gi"},
    )
    services.instance_type_save(
        cluster=cluster,
        name="other",
        node_selector={},
        requests={"cpu": "1", "memory": "1Gi"},
        limits={"cpu": "1", "memory": "1Gi"},
    )
    services.target_create(
        workspace=team_a,
        cluster=cluster,
        name="limited",
        namespace="team-a",
        create_namespace=True,
        allowed_instance_types=[small],
    )
    body = (
        client_for("scientist")
        .get("/api/v1/instance-types/?workspace=team-a&compute=limited")
        .json()
    )
    assert [it["name"] for it in body["results"]] == ["small"]
    page = client_for("scientist").get("/compute/").content.decode()
    assert 'data-instance-type="small"' in page and 'data-instance-type="other"' not in page
    assert "token" not in page.lower() or "csrf" in page.lower()


def test_requests_are_reviewed_and_requester_sees_outcome(attach, team_a, personas, client_for):
    cluster = attach()
    created = client_for("admin").post(
        "/api/v1/compute-requests/",
        {
            "workspace": "team-a",
            "kind": "target",
            "name": "more",
            "namespace": "team-a-more",
            "justification": "new project",
            "quota_gpu": 1,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    denied = client_for("scientist").post(
        "/api/v1/compute-requests/",
        {
            "workspace": "team-a",
            "kind": "target",
            "name": "x",
            "namespace": "x",
            "justification": "j",
        },
        content_type="application/json",
    )
    assert denied.status_code == 403
    pk = created.json()["id"]
    assert (
        client_for("admin")
        .post(
            f"/api/v1/compute-requests/{pk}/review/",
            {"approve": True},
            content_type="application/json",
        )
        .status_code
        == 403
    )
    reviewed = client_for("itops").post(
        f"/api/v1/compute-requests/{pk}/review/",
        {"approve": True, "comment": "ok", "cluster": cluster.name},
        content_type="application/json",
    )
    assert reviewed.status_code == 200, reviewed.content
    request = ComputeRequest.objects.get(pk=pk)
    assert (
        request.status == RequestStatus.APPROVED and request.target.status == TargetStatus.SUCCEEDED
    )
    page = client_for("admin").get("/compute/").content.decode()
    assert "Approved" in page and "“ok”" in page
    again = client_for("itops").post(
        f"/api/v1/compute-requests/{pk}/review/",
        {"approve": False},
        content_type="application/json",
    )
    assert again.status_code == 400 and "already" in again.json()["detail"] + str(
        again.json().get("errors")
    )
