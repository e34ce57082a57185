"""RBAC enforced for service accounts: refusals in Kubernetes' words, reviews, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from kubesim.server import KubeSim
from tests.kubesim.kubectl_run import run

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module")
def rbac_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSim]:
    path = tmp_path_factory.mktemp("rbac") / "admin"
    sim = KubeSim(tls=True, kubeconfig=str(path), controllers=False).start()
    yield sim
    sim.stop()


def _sa_kubeconfig(sim: KubeSim, tmp_path: Path, ns: str, sa: str) -> str:
    return sim.write_kubeconfig_for(str(tmp_path / f"{ns}-{sa}"), ns, sa)


def _grant_jobs(sim: KubeSim, ns: str, sa: str, verbs: list[str]) -> None:
    admin = sim.kubeconfig_path
    verb_args = ",".join(verbs)
    run(admin, "create", "role", "jobs", "-n", ns, f"--verb={verb_args}", "--resource=jobs.batch")
    run(
        admin,
        "create",
        "rolebinding",
        "jobs",
        "-n",
        ns,
        "--role=jobs",
        f"--serviceaccount={ns}:{sa}",
    )


def test_a_service_account_gets_what_its_role_grants_and_no_more(
    rbac_sim: KubeSim, tmp_path: Path
) -> None:
    kubeconfig = _sa_kubeconfig(rbac_sim, tmp_path, "team-a", "portal")
    _grant_jobs(rbac_sim, "team-a", "portal", ["get", "list"])
    api = config.new_client_from_config(config_file=kubeconfig)
    batch = client.BatchV1Api(api)
    assert batch.list_namespaced_job("team-a").items == []
    with pytest.raises(client.ApiException) as err:
        batch.create_namespaced_job("team-a", {"metadata": {"name": "j"}, "spec": {"template": {}}})
    assert err.value.status == 403
    status = yaml.safe_load(err.value.body)
    assert status["message"] == (
        'jobs.batch is forbidden: User "system:serviceaccount:team-a:portal" cannot create '
        'resource "jobs" in API group "batch" in the namespace "team-a"'
    )
    # No name on a create: the API server leaves the empty member out (omitempty).
    assert status["reason"] == "Forbidden" and status["details"] == {
        "group": "batch",
        "kind": "jobs",
    }
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(api).list_namespaced_pod("team-b")
    assert err.value.status == 403
    api.close()


def test_kubectl_auth_can_i_answers_from_rbac(rbac_sim: KubeSim, tmp_path: Path) -> None:
    kubeconfig = _sa_kubeconfig(rbac_sim, tmp_path, "team-c", "runner")
    _grant_jobs(rbac_sim, "team-c", "runner", ["create", "get"])
    assert (
        run(kubeconfig, "auth", "can-i", "create", "jobs", "-n", "team-c").stdout.strip() == "yes"
    )
    refused = run(kubeconfig, "auth", "can-i", "delete", "jobs", "-n", "team-c", check=False)
    assert refused.returncode == 1 and refused.stdout.strip() == "no"
    assert run(kubeconfig, "auth", "can-i", "get", "pods", check=False).stdout.strip() == "no"
    listed = run(kubeconfig, "auth", "can-i", "--list", "-n", "team-c").stdout
    assert "jobs.batch" in listed and "selfsubjectaccessreviews" in listed
    whoami = run(rbac_sim.kubeconfig_path, "auth", "can-i", "delete", "nodes").stdout.strip()
    assert whoami == "yes"  # the admin token stays all-powerful


def test_a_cluster_role_binding_and_resource_names(rbac_sim: KubeSim, tmp_path: Path) -> None:
    kubeconfig = _sa_kubeconfig(rbac_sim, tmp_path, "team-d", "reader")
    admin = rbac_sim.kubeconfig_path
    run(
        admin,
        "create",
        "clusterrole",
        "ns-reader",
        "--verb=get",
        "--resource=namespaces",
        "--resource-name=team-d",
    )
    run(
        admin,
        "create",
        "clusterrolebinding",
        "ns-reader",
        "--clusterrole=ns-reader",
        "--serviceaccount=team-d:reader",
    )
    assert "team-d" in run(kubeconfig, "get", "namespace", "team-d").stdout
    refused = run(kubeconfig, "get", "namespace", "default", check=False)
    assert refused.returncode == 1
    assert (
        'namespaces "default" is forbidden: User "system:serviceaccount:team-d:reader" cannot '
        'get resource "namespaces" in API group "" at the cluster scope'
    ) in refused.stderr


def test_token_requests_and_a_deleted_account(rbac_sim: KubeSim, tmp_path: Path) -> None:
    admin = rbac_sim.kubeconfig_path
    rbac_sim.ensure_service_account("team-e", "bot")
    token = run(admin, "create", "token", "bot", "-n", "team-e").stdout.strip()
    assert token == rbac_sim.service_account_token("team-e", "bot")
    run(
        admin,
        "create",
        "rolebinding",
        "view",
        "-n",
        "team-e",
        "--clusterrole=view",
        "--serviceaccount=team-e:bot",
    )
    kubeconfig = rbac_sim.write_kubeconfig_for(str(tmp_path / "bot"), "team-e", "bot")
    assert run(kubeconfig, "get", "pods").returncode == 0
    run(admin, "delete", "serviceaccount", "bot", "-n", "team-e")
    gone = run(kubeconfig, "get", "pods", check=False)
    assert gone.returncode == 1 and "Unauthorized" in gone.stderr
    missing = run(admin, "create", "token", "nobody", "-n", "team-e", check=False)
    assert 'serviceaccounts "nobody" not found' in missing.stderr
