"""Credentials go only to the server they were given for: a cluster's server URL changes
only together with its credentials (admin, pages, API), and a row whose URL was changed
any other way is refused before anything is sent."""

import pytest
from django.test import Client

from compute import credentials, kubeconfig, services, tasks
from compute.kube.client import client_for
from compute.kube.errors import ClusterError, ErrorKind
from compute.models import Cluster, ClusterStatus
from portal.models import User
from tests.helpers import recording_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_admin_cannot_move_a_cluster_to_another_server(attach, personas):
    cluster = attach(install=False)
    User.objects.filter(pk=personas["itops"].pk).update(is_superuser=True)
    admin = Client()
    admin.force_login(personas["itops"])
    page = admin.get(f"/admin/compute/cluster/{cluster.pk}/change/")
    assert page.status_code == 200
    assert b'name="server"' not in page.content
    with recording_server() as (url, seen):
        admin.post(
            f"/admin/compute/cluster/{cluster.pk}/change/",
            {"name": cluster.name, "server": f"{url}/api/v1/me/?x=", "description": "moved"},
        )
        cluster.refresh_from_db()
        assert cluster.server != f"{url}/api/v1/me/?x="
        tasks.cluster_check(cluster.pk)
        assert seen == []
    # Adding a cluster there would have no credentials: it is done on the Clusters page.
    assert admin.get("/admin/compute/cluster/add/").status_code == 403


def test_a_server_changed_without_credentials_gets_no_token(attach, sim):
    cluster = attach(install=False)
    client_for(cluster)  # a client for the old server is cached
    with recording_server() as (url, seen):
        Cluster.objects.filter(pk=cluster.pk).update(server=f"{url}/api/v1/me/?x=")
        tasks.cluster_check(cluster.pk)
        assert seen == [], "the token went to the new server"
    cluster.refresh_from_db()
    assert cluster.status == ClusterStatus.UNAUTHORIZED
    assert "attach the cluster again" in cluster.status_reason
    with pytest.raises(ClusterError) as caught:
        client_for(cluster)
    assert caught.value.kind == ErrorKind.UNAUTHORIZED


def test_new_credentials_move_the_server_and_the_client(attach, sim, sim_kubeconfig):
    cluster = attach(install=False)
    old = client_for(cluster)
    access = kubeconfig.read(sim_kubeconfig)
    access.server = access.server.replace("127.0.0.1", "localhost")
    services.cluster_update_credentials(cluster=cluster, access=access)
    cluster.refresh_from_db()
    assert cluster.server == access.server
    assert credentials.decrypt(cluster.credentials)["server"] == access.server
    assert client_for(cluster) is not old
    assert client_for(cluster).configuration.host == access.server
