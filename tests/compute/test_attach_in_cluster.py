"""``manage.py attach_in_cluster``: the cluster the portal runs in, attached with the
service account's token and CA as a pod finds them, against kubesim over HTTPS."""

from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command

from compute.models import Cluster, ClusterStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_attaches_with_the_pods_credentials_then_refreshes_them(sim, tmp_path, monkeypatch):
    (tmp_path / "token").write_text(sim.token + "\n")
    (tmp_path / "ca.crt").write_text(sim.ca_data)
    where = urlsplit(sim.url)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", where.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(where.port))
    files = ["--token-file", str(tmp_path / "token"), "--ca-file", str(tmp_path / "ca.crt")]
    call_command("attach_in_cluster", "--name", "local", *files)
    cluster = Cluster.objects.get(name="local")
    assert cluster.server == f"https://{where.hostname}:{where.port}"
    assert cluster.status == ClusterStatus.CONNECTED, cluster.status_reason
    call_command("attach_in_cluster", "--name", "local", *files)  # again: refreshed, not doubled
    assert Cluster.objects.filter(name="local").count() == 1


def test_outside_a_pod_it_says_what_is_missing(tmp_path, monkeypatch, db):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(CommandError, match="KUBERNETES_SERVICE_HOST"):
        call_command("attach_in_cluster")
    with pytest.raises(CommandError, match="service account"):
        call_command("attach_in_cluster", "--server", "https://127.0.0.1:1", "--token-file",
                     str(tmp_path / "none"))  # fmt: skip
