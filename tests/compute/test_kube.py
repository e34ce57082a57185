"""compute.kube against kubesim over HTTP: access from a token, the client cache, the generic
calls, errors, labels; and the node-pool setting of the sync."""

import pytest

from compute import credentials, kubeconfig, operations
from compute.kube import calls, labels
from compute.kube.client import AccessError, client_for, token_access
from compute.kube.errors import ClusterError, ErrorKind
from compute.models import Cluster, Node

pytestmark = pytest.mark.django_db(transaction=True)

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"


@pytest.mark.parametrize(
    ("server", "token", "ca", "field"),
    [
        ("ftp://x", "t", "", "server"),
        ("", "t", "", "server"),
        ("https://x", "  ", "", "token"),
        ("https://x", "t", "not a certificate", "ca_certificate"),
    ],
)
def test_token_access_names_the_bad_field(server, token, ca, field):
    with pytest.raises(AccessError) as caught:
        token_access(server, token, ca)
    assert caught.value.field == field


def test_token_access_keeps_what_it_is_given():
    access = token_access("https://k8s:6443/", "tok", f"  {PEM}  ", insecure=True)
    assert access.server == "https://k8s:6443"
    assert access.credentials == {"token": "tok", "insecure": True, "ca_data": PEM + "\n"}


@pytest.mark.parametrize("mode", ["page", "api"])
def test_attach_refuses_a_ca_that_is_not_pem_on_the_page_and_the_api(client_for, mode):
    fields = {
        "name": "tokencluster",
        "server": "https://10.0.0.1:6443",
        "token": "abc",
        "ca_certificate": "not a certificate",
    }
    if mode == "page":
        response = client_for("itops").post("/clusters/attach", {"mode": "token", **fields})
        assert response.status_code == 400
        assert "PEM form" in response.content.decode()
    else:
        response = client_for("itops").post(
            "/api/v1/clusters/", fields, content_type="application/json"
        )
        assert response.status_code == 400
        assert "ca_certificate" in response.json()["errors"]
    assert not Cluster.objects.filter(name="tokencluster").exists()


def test_the_client_cache_covers_server_and_credentials(attach, sim_kubeconfig):
    cluster = attach(install=False)
    first = client_for(cluster)
    assert client_for(Cluster.objects.get(pk=cluster.pk)) is first
    access = kubeconfig.read(sim_kubeconfig)
    moved = access.server + "/"
    cluster.server = moved  # a new server needs credentials sealed for it
    with pytest.raises(ClusterError, match="attach the cluster again"):
        client_for(cluster)
    cluster.credentials = credentials.seal(moved, access.credentials)
    assert client_for(cluster) is not first
    cluster.server = access.server
    cluster.credentials = credentials.seal(access.server, {**access.credentials, "insecure": True})
    assert client_for(cluster) is not first


def test_apply_creates_once_and_returns_what_exists(attach, sim):
    api = client_for(attach(install=False))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-test"}}
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "labels": labels.MANAGED_LABELS},
        "data": {"a": "1"},
    }
    first = calls.apply(api, [namespace, config], namespace="kube-test")
    again = calls.apply(api, [namespace, {**config, "data": {"a": "2"}}], namespace="kube-test")
    assert [o["metadata"]["uid"] for o in first] == [o["metadata"]["uid"] for o in again]
    assert again[1]["data"] == {"a": "1"}  # kept, not replaced
    replaced = calls.apply(
        api, [{**config, "data": {"a": "3"}}], namespace="kube-test", replace=True
    )
    assert replaced[0]["data"] == {"a": "3"}
    found = calls.list_objects(
        api, "v1", "ConfigMap", namespace="kube-test", label_selector=labels.MANAGED
    )
    assert [o["metadata"]["name"] for o in found] == ["settings"]
    assert calls.delete(api, "v1", "ConfigMap", "settings", namespace="kube-test") is True
    assert calls.delete(api, "v1", "ConfigMap", "settings", namespace="kube-test") is False
    with pytest.raises(ClusterError) as caught:
        calls.get(api, "v1", "ConfigMap", "settings", namespace="kube-test")
    assert caught.value.kind == ErrorKind.NOT_FOUND and caught.value.kind == "not_found"
    assert "Not found while reading ConfigMap settings in kube-test" in caught.value.message


def test_rest_paths_of_core_grouped_and_cluster_scoped_kinds():
    assert calls.rest_path("v1", "Pod", namespace="a", name="p") == "/api/v1/namespaces/a/pods/p"
    assert calls.rest_path("batch/v1", "Job", namespace="a") == "/apis/batch/v1/namespaces/a/jobs"
    assert calls.rest_path("v1", "Namespace", namespace="a", name="a") == "/api/v1/namespaces/a"
    assert (
        calls.rest_path("kubeportal.io/v1alpha1", "InstanceType", namespace="a")
        == "/apis/kubeportal.io/v1alpha1/instancetypes"
    )


def test_job_selectors_find_old_and_new_job_objects(attach, sim):
    api = client_for(attach(install=False))
    calls.apply(api, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sel"}}])
    old = {"kubeportal.io/managed-by": "kubeportal", labels.JOB_ID: "1"}
    new = labels.job_labels(2, "team-a", "target")
    for name, meta_labels in (("old", old), ("new", new), ("other", {"app": "x"})):
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": meta_labels},
        }
        calls.apply(api, [body], namespace="sel")

    def names(selector: str) -> list[str]:
        found = calls.list_objects(api, "v1", "ConfigMap", namespace="sel", label_selector=selector)
        return sorted(o["metadata"]["name"] for o in found)

    assert names(labels.JOB_SELECTOR) == ["new", "old"]
    assert names(labels.job_selector([1, 2])) == ["new", "old"]
    assert names(labels.job_selector(2)) == ["new"]
    assert new[labels.MANAGED_BY] == "kubeportal"


def test_node_pool_labels_are_a_setting(settings, attach):
    settings.NODE_POOL_LABELS = ["example.com/pool", "agentpool"]
    assert operations.node_pool({"agentpool": "a", "example.com/pool": "b"}) == "b"
    assert operations.node_pool({"agentpool": "a"}) == "a"
    assert operations.node_pool({"node.kubernetes.io/instance-type": "m5"}) == "m5"
    settings.NODE_POOL_LABELS = ["kubesim.io/pool"]
    cluster = attach(install=False)
    pools = set(Node.objects.filter(cluster=cluster).values_list("pool", flat=True))
    assert pools and all(pools)
    settings.NODE_POOL_LABELS = ["nothing.example.com/pool"]
    operations.sync_cluster(cluster)
    instance_types = set(Node.objects.filter(cluster=cluster).values_list("pool", flat=True))
    assert instance_types != pools
