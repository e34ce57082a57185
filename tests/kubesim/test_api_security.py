"""TLS mode, the read-only token and SelfSubjectAccessReview."""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes import client, config

from kubesim.server import KubeSim

READONLY_TOKEN = "readonly-token"


def test_tls_with_ca_from_kubeconfig(tmp_path) -> None:
    path = tmp_path / "kubeconfig"
    sim = KubeSim(tls=True, kubeconfig=str(path), controllers=False).start()
    try:
        assert sim.url.startswith("https://")
        doc = yaml.safe_load(path.read_text())
        assert doc["current-context"] == "kubesim"
        assert doc["clusters"][0]["cluster"]["certificate-authority-data"]
        api = config.new_client_from_config(config_file=str(path))
        names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        assert "default" in names
        api.close()
    finally:
        sim.stop()


def test_readonly_token_refused_writes(kubesim_server: KubeSim, client_for, namespace: str) -> None:
    api = client_for(kubesim_server, READONLY_TOKEN)
    batch = client.BatchV1Api(api)
    batch.list_namespaced_job(namespace)
    with pytest.raises(client.ApiException) as err:
        batch.create_namespaced_job(
            namespace,
            {
                "metadata": {"name": "j"},
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "c", "image": "x"}],
                            "restartPolicy": "Never",
                        }
                    }
                },
            },
        )
    assert err.value.status == 403
    assert json.loads(err.value.body)["message"] == (
        f'jobs.batch is forbidden: User "readonly" cannot create resource "jobs" in API '
        f'group "batch" in the namespace "{namespace}"'
    )
    api.close()


@pytest.mark.parametrize(
    ("token", "verb", "allowed"),
    [
        (None, "create", True),
        (READONLY_TOKEN, "list", True),
        (READONLY_TOKEN, "delete", False),
    ],
)
def test_self_subject_access_review(
    kubesim_server: KubeSim, client_for, token, verb, allowed
) -> None:
    api = client_for(kubesim_server, token)
    review = client.AuthorizationV1Api(api).create_self_subject_access_review(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": "default",
                    "verb": verb,
                    "group": "batch",
                    "resource": "jobs",
                }
            },
        }
    )
    assert review.status.allowed is allowed
    api.close()
