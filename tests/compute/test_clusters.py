"""Attaching clusters, checking them, credentials at rest, the extension: against kubesim over HTTP."""

import socket

import pytest
import yaml

from compute import credentials, kubeconfig, services
from compute.models import Cluster, ClusterStatus, ExtensionStatus, InstanceType

pytestmark = pytest.mark.django_db(transaction=True)


def test_attach_checks_version_nodes_and_permissions(attach, sim):
    cluster = attach(install=False)
    assert cluster.status == ClusterStatus.CONNECTED, cluster.status_reason
    assert cluster.server_version.startswith("v1.32")
    assert cluster.node_count == 5
    assert cluster.missing_permissions == []
    assert cluster.last_checked_at is not None
    # Nodes were synced with capacity and pools.
    assert set(cluster.nodes.values_list("pool", flat=True)) == {"cpu", "gpu"}
    gpu = cluster.nodes.get(name="gpu-0")
    assert gpu.allocatable["nvidia.com/gpu"] == "4"


def test_missing_permissions_are_what_the_cluster_refuses(sim, tmp_path):
    """Attached with a service account that may only read pods and nodes, the portal's check
    asks the cluster (SelfSubjectAccessReviews, RBAC enforced by kubesim) and lists exactly
    what it lacks, in the words the attach page shows."""
    path = sim.write_kubeconfig_for(str(tmp_path / "narrow"), "kube-system", "narrow-portal")
    reader = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "narrow-portal"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]}
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "narrow-portal"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "narrow-portal"},
        "subjects": [{"kind": "ServiceAccount", "name": "narrow-portal",
                      "namespace": "kube-system"}],
    }  # fmt: skip
    sim.call(lambda: sim.store.create("clusterroles.rbac.authorization.k8s.io", reader))
    sim.call(lambda: sim.store.create("clusterrolebindings.rbac.authorization.k8s.io", binding))
    with open(path) as handle:
        cluster = services.cluster_attach(name="narrow", access=kubeconfig.read(handle.read()))
    cluster.refresh_from_db()
    missing = set(cluster.missing_permissions)
    assert "create jobs.batch" in missing and "create namespaces" in missing
    assert "create persistentvolumeclaims" in missing
    assert not {"list nodes", "watch nodes", "list pods", "watch pods"} & missing


def test_credentials_are_encrypted_and_never_returned(attach, client_for, sim):
    cluster = attach(install=False)
    raw = bytes(Cluster.objects.get(pk=cluster.pk).credentials)
    assert sim.token.encode() not in raw
    assert credentials.decrypt(raw)["token"] == sim.token
    for persona in ("itops",):
        body = client_for(persona).get(f"/api/v1/clusters/{cluster.name}/").content
        assert sim.token.encode() not in body and b"credentials" not in body
        page = client_for(persona).get(f"/clusters/{cluster.name}/").content
        assert sim.token.encode() not in page


def test_key_rotation_keeps_credentials_readable(attach, settings, tmp_path):
    from cryptography.fernet import Fernet

    cluster = attach(install=False)
    old_keys = list(settings.ENCRYPTION_KEYS) or [
        settings.ENCRYPTION_KEY_FILE.read_bytes().strip().decode()
    ]
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, *old_keys]
    blob = credentials.rotate(Cluster.objects.get(pk=cluster.pk).credentials)
    settings.ENCRYPTION_KEYS = [new_key]
    assert credentials.decrypt(blob)["ca_data"].startswith("-----BEGIN CERTIFICATE")


def test_rotate_command_reencrypts_with_the_first_key(attach, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    cluster = attach(install=False)
    old_keys = list(settings.ENCRYPTION_KEYS) or [
        settings.ENCRYPTION_KEY_FILE.read_bytes().strip().decode()
    ]
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, *old_keys]
    call_command("rotate_credentials")
    settings.ENCRYPTION_KEYS = [new_key]  # the old key is gone: still readable
    assert credentials.decrypt(Cluster.objects.get(pk=cluster.pk).credentials)["token"]
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(credentials.CredentialsError, match="cannot be decrypted"):
        credentials.decrypt(Cluster.objects.get(pk=cluster.pk).credentials)


def test_unreachable_server(sim_kubeconfig):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    access = kubeconfig.read(sim_kubeconfig)
    access.server = f"https://127.0.0.1:{port}"
    cluster = services.cluster_attach(name="gone", access=access)
    cluster.refresh_from_db()
    assert cluster.status == ClusterStatus.UNREACHABLE
    assert "Could not reach the API server" in cluster.status_reason


def test_bad_token_is_unauthorized(sim_kubeconfig):
    access = kubeconfig.read(sim_kubeconfig)
    access.credentials["token"] = "not-the-token"
    cluster = services.cluster_attach(name="badtoken", access=access)
    cluster.refresh_from_db()
    assert cluster.status == ClusterStatus.UNAUTHORIZED
    assert "token is invalid" in cluster.status_reason


def test_token_without_rights_is_degraded_with_the_missing_permissions(sim_kubeconfig):
    access = kubeconfig.read(sim_kubeconfig)
    access.credentials["token"] = "readonly-token"
    cluster = services.cluster_attach(name="readonly", access=access)
    cluster.refresh_from_db()
    assert cluster.status == ClusterStatus.DEGRADED
    assert "create jobs.batch" in cluster.missing_permissions
    assert "list nodes" not in cluster.missing_permissions


@pytest.mark.parametrize(
    "text,context,message",
    [
        ("clusters: [unclosed", None, "not valid YAML at line 1"),
        ("just a string", None, "not a kubeconfig"),
        (None, "nope", "Unknown context “nope”. This kubeconfig has: kubesim"),
    ],
)
def test_malformed_kubeconfigs_are_explained(sim_kubeconfig, text, context, message):
    with pytest.raises(kubeconfig.KubeconfigError, match=message):
        kubeconfig.read(text if text is not None else sim_kubeconfig, context)


def test_kubeconfig_with_file_paths_or_plugins_is_refused(sim_kubeconfig):
    doc = yaml.safe_load(sim_kubeconfig)
    doc["users"][0]["user"] = {"exec": {"command": "aws"}}
    with pytest.raises(kubeconfig.KubeconfigError, match="plugin"):
        kubeconfig.read(yaml.safe_dump(doc))
    doc["users"][0]["user"] = {
        "client-certificate": "/home/me/cert.pem",
        "client-key": "/home/me/key.pem",
    }
    with pytest.raises(kubeconfig.KubeconfigError, match="--flatten"):
        kubeconfig.read(yaml.safe_dump(doc))


def test_attach_page_errors_keep_nothing_half_written(client_for):
    client = client_for("itops")
    response = client.post(
        "/clusters/attach", {"mode": "kubeconfig", "name": "broken", "kubeconfig": "clusters: [x"}
    )
    assert response.status_code == 400
    assert "not valid YAML" in response.content.decode()
    assert not Cluster.objects.filter(name="broken").exists()
    response = client.post(
        "/clusters/attach", {"mode": "kubeconfig", "name": "Bad Name!", "kubeconfig": "x"}
    )
    assert response.status_code == 400


def test_attach_through_the_api(client_for, sim_kubeconfig):
    response = client_for("itops").post(
        "/api/v1/clusters/",
        {"name": "apicluster", "kubeconfig": sim_kubeconfig},
        content_type="application/json",
    )
    assert response.status_code == 202
    assert "token" not in response.json() and "kubeconfig" not in response.json()
    assert Cluster.objects.get(name="apicluster").status == ClusterStatus.CONNECTED
    unknown = client_for("itops").post(
        "/api/v1/clusters/",
        {"name": "x2", "kubeconfig": sim_kubeconfig, "context": "other"},
        content_type="application/json",
    )
    assert unknown.status_code == 400 and "context" in unknown.json()["errors"]


def test_extension_install_is_idempotent_and_uninstalls(attach, sim):
    cluster = attach()
    assert cluster.extension_status == ExtensionStatus.INSTALLED, cluster.extension_steps
    assert [s["state"] for s in cluster.extension_steps] == ["done"] * 6
    crds = sim.call(lambda: sim.store.list("customresourcedefinitions.apiextensions.k8s.io")[0])
    assert "instancetypes.kubeportal.io" in {c["metadata"]["name"] for c in crds}
    default = InstanceType.objects.get(cluster=cluster, name="defaultinstancetype")
    assert default.requests == {"cpu": "100m", "memory": "2Gi"} and default.limits == {
        "cpu": "2",
        "memory": "2Gi",
    }
    assert default.fitting_nodes  # it fits on the simulated nodes
    # Installing again changes nothing and succeeds.
    services.extension_install(cluster=cluster, training=True, inference=False, node_selector={})
    cluster.refresh_from_db()
    assert (
        cluster.extension_status == ExtensionStatus.INSTALLED and not cluster.inference_enabled
    ), cluster.extension_steps
    services.extension_uninstall(cluster=cluster)
    cluster.refresh_from_db()
    assert cluster.extension_status == ExtensionStatus.NOT_INSTALLED
    assert not cluster.instance_types.exists()
    crds = sim.call(lambda: sim.store.list("customresourcedefinitions.apiextensions.k8s.io")[0])
    assert "instancetypes.kubeportal.io" not in {c["metadata"]["name"] for c in crds}
    services.extension_install(cluster=cluster, training=True, inference=True, node_selector={})
