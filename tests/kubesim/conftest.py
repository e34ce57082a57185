"""Fixtures starting in-process KubeSim servers and official-client ApiClients for them."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from kubesim.server import KubeSim

READONLY_TOKEN = "readonly-token"


def make_client(
    sim: KubeSim, token: str | None = None, *, retries: bool = True
) -> client.ApiClient:
    """Return an ApiClient for ``sim`` built from its url and token (never global config).

    ``retries=False`` stops urllib3 from retrying 429 answers that carry Retry-After.
    """
    cfg = client.Configuration()
    if not retries:
        cfg.retries = False
    cfg.host = sim.url
    cfg.api_key = {"authorization": f"Bearer {token or sim.token}"}
    if sim.ca_data:
        with tempfile.NamedTemporaryFile("w", suffix=".crt", delete=False) as fh:
            fh.write(sim.ca_data)
        cfg.ssl_ca_cert = fh.name
    return client.ApiClient(cfg)


@pytest.fixture(scope="session")
def kubesim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSim]:
    """A shared simulator with controllers (speed 20), a kubeconfig and a read-only token."""
    path = tmp_path_factory.mktemp("kubesim") / "kubeconfig"
    sim = KubeSim(
        speed=20,
        kubeconfig=str(path),
        extra_tokens={READONLY_TOKEN: "readonly"},
        bookmark_interval=0.2,
    )
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def bare_kubesim() -> Iterator[KubeSim]:
    """A shared simulator without controllers, for tests that set pod state themselves."""
    sim = KubeSim(speed=20, controllers=False, bookmark_interval=0.2)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def fresh_kubesim() -> Iterator[KubeSim]:
    """A private simulator for tests that inject faults or restart it."""
    sim = KubeSim(speed=20, controllers=False, bookmark_interval=0.2, history_size=200)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def k8s_api_client(kubesim_server: KubeSim) -> Iterator[client.ApiClient]:
    """An ApiClient (admin token) for the shared simulator."""
    api = make_client(kubesim_server)
    yield api
    api.close()


@pytest.fixture
def bare_api_client(bare_kubesim: KubeSim) -> Iterator[client.ApiClient]:
    """An ApiClient (admin token) for the controller-less simulator."""
    api = make_client(bare_kubesim)
    yield api
    api.close()


def _namespace(api: client.ApiClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture
def namespace(k8s_api_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace in the shared simulator, deleted afterwards."""
    yield from _namespace(k8s_api_client)


@pytest.fixture
def bare_namespace(bare_api_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace in the controller-less simulator, deleted afterwards."""
    yield from _namespace(bare_api_client)


def pod_body(
    name: str,
    *,
    labels: dict | None = None,
    containers: list[str] | None = None,
    resources: dict | None = None,
) -> dict:
    """Return a minimal pod manifest with the given containers (default one named main)."""
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "containers": [
                {"name": c, "image": "busybox", **({"resources": resources} if resources else {})}
                for c in (containers or ["main"])
            ],
            "restartPolicy": "Never",
        },
    }


@pytest.fixture
def make_pod():
    """The ``pod_body`` helper (test modules cannot import conftest under importlib mode)."""
    return pod_body


@pytest.fixture
def client_for():
    """The ``make_client(sim, token=None)`` helper."""
    return make_client
