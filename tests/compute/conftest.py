"""A kubesim cluster over HTTPS for the compute tests, and helpers to attach it."""

from pathlib import Path

import pytest

from compute import kubeconfig, services
from compute.models import Cluster
from kubesim.server import KubeSim

NODES = "cpu=3x8c32g,gpu=2x16c64g4gpu:accelerator=nvidia-a100"


@pytest.fixture(scope="session")
def sim(tmp_path_factory):
    """One simulated cluster for the session (TLS, as kubectl and real clusters need)."""
    path = tmp_path_factory.mktemp("kubesim") / "kubeconfig"
    server = KubeSim(
        port=0,
        nodes=NODES,
        speed=20,
        tls=True,
        kubeconfig=str(path),
        extra_tokens={"readonly-token": "readonly"},
    ).start()
    yield server
    server.stop()


@pytest.fixture
def sim_kubeconfig(sim) -> str:
    return Path(sim.kubeconfig_path).read_text()


@pytest.fixture
def attach(sim_kubeconfig):
    """Returns a function attaching the simulator under a name (check and sync run on commit)."""

    def do(name: str = "sim", *, install: bool = True) -> Cluster:
        cluster = services.cluster_attach(name=name, access=kubeconfig.read(sim_kubeconfig))
        if install:
            services.extension_install(
                cluster=cluster, training=True, inference=True, node_selector={}
            )
        cluster.refresh_from_db()
        return cluster

    return do
