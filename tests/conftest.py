"""Personas and shared fixtures.

Personas: ``itops`` (IT operations), and in workspace ``team-a`` an ``admin``, a
``scientist`` (data scientist) and a ``reader``; ``outsider`` is a data scientist
in ``team-b`` only. Every access test is written around them.
"""

import socket
import threading
import time
from pathlib import Path

import pytest
from django.test import Client

from compute import kubeconfig, services
from compute.models import Cluster
from kubesim.server import KubeSim
from portal.models import Membership, Role, User, Workspace

PASSWORD = "test-password-123"


@pytest.fixture(autouse=True)
def _tasks_run_on_commit(settings):
    # Tasks run in the committing thread so tests are deterministic; the thread
    # pool itself is covered by tests/portal/test_background.py.
    settings.TASKS_MODE = "immediate"
    # Test users need no slow password hashing (the default costs ~0.4 s a user).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Likewise live fragments are sent on commit in the committing thread.
    settings.LIVE_SEND_IN_BACKGROUND = False


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    # A Redis channel layer keeps connections per event loop; each async test has its own
    # loop, so each test gets its own layer object.
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def make_user(username: str, *, itops: bool = False) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if itops:
        user.is_itops = user.is_staff = True
        user.save()
    return user


@pytest.fixture
def team_a(db) -> Workspace:
    return Workspace.objects.create(slug="team-a", name="Team A")


@pytest.fixture
def team_b(db) -> Workspace:
    return Workspace.objects.create(slug="team-b", name="Team B")


@pytest.fixture
def personas(team_a, team_b) -> dict[str, User]:
    users = {
        "itops": make_user("itops", itops=True),
        "admin": make_user("admin"),
        "scientist": make_user("scientist"),
        "reader": make_user("reader"),
        "outsider": make_user("outsider"),
    }
    Membership.objects.create(workspace=team_a, user=users["admin"], role=Role.ADMIN)
    Membership.objects.create(workspace=team_a, user=users["scientist"], role=Role.DATA_SCIENTIST)
    Membership.objects.create(workspace=team_a, user=users["reader"], role=Role.READER)
    Membership.objects.create(workspace=team_b, user=users["outsider"], role=Role.DATA_SCIENTIST)
    return users


@pytest.fixture
def client_for(personas):
    """Returns a function giving a logged-in test client for a persona name (or 'anonymous')."""

    def make(name: str) -> Client:
        client = Client()
        if name != "anonymous":
            client.force_login(personas[name])
        return client

    return make


# ---- a simulated cluster over HTTPS (kubesim), shared by the portal's tests ----

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


SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}


def _reset_sim(sim) -> None:
    """Deletes what earlier tests left in the simulator (database ids restart between tests)."""

    def wipe():
        for ns in sim.store.list("namespaces")[0]:
            if ns["metadata"]["name"] not in SYSTEM_NAMESPACES:
                sim.store.delete("namespaces", ns["metadata"]["name"])
        for crd in sim.store.list("customresourcedefinitions.apiextensions.k8s.io")[0]:
            sim.store.delete(
                "customresourcedefinitions.apiextensions.k8s.io", crd["metadata"]["name"]
            )

    sim.call(wipe)


@pytest.fixture
def attach(sim, sim_kubeconfig):
    """Returns a function attaching the simulator under a name (check and sync run on commit)."""
    _reset_sim(sim)

    def do(name: str = "sim", *, install: bool = True) -> Cluster:
        cluster = services.cluster_attach(name=name, access=kubeconfig.read(sim_kubeconfig))
        if install:
            services.extension_install(
                cluster=cluster, training=True, inference=True, node_selector={}
            )
        cluster.refresh_from_db()
        return cluster

    return do


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: Playwright's sync API keeps an event loop on the main
    thread for the rest of the session, which async tests cannot share.

    With ``PORTAL_TEST_DB_ONLY=1`` (the production-mode run of scripts/test.sh) only tests
    that use the database run: the others (kubesim's own, the CLI's unit tests, spec parsing)
    do not depend on the mode and already ran in the embedded run.
    """
    import os

    if os.environ.get("PORTAL_TEST_DB_ONLY") == "1":
        keep, drop = [], []
        for item in items:
            uses_db = item.get_closest_marker("django_db") is not None or {
                "db",
                "transactional_db",
            } & set(getattr(item, "fixturenames", ()))
            (keep if uses_db else drop).append(item)
        items[:] = keep
        config.hook.pytest_deselected(items=drop)
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture
def compute_ready(attach, team_a, team_b):
    """The simulator attached with the extension, targets cpu-target and gpu-target in team-a,
    team-b-target in team-b, and a GPU instance type gpu-small."""
    cluster = attach("sim")
    services.instance_type_save(
        cluster=cluster,
        name="gpu-small",
        node_selector={"accelerator": "nvidia-a100"},
        requests={"cpu": "4", "memory": "16Gi"},
        limits={"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
    )
    services.target_create(
        workspace=team_a,
        cluster=cluster,
        name="cpu-target",
        namespace="team-a",
        create_namespace=True,
    )
    services.target_create(
        workspace=team_a,
        cluster=cluster,
        name="gpu-target",
        namespace="team-a-gpu",
        create_namespace=True,
    )
    services.target_create(
        workspace=team_b,
        cluster=cluster,
        name="team-b-target",
        namespace="team-b",
        create_namespace=True,
    )
    return cluster


# ---- the portal served over ASGI (HTTP and websockets) in a thread ----


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def portal_server(transactional_db):
    """Serves the portal over uvicorn in a thread; yields its base URL."""
    import uvicorn

    from portal.asgi import application

    port = _free_port()
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def sqlite_readers_never_wait():
    """With watcher threads writing, readers of the shared-cache in-memory SQLite test database
    read uncommitted rows instead of failing at once on table locks. (Production SQLite is a
    WAL file, where readers never block; PostgreSQL needs nothing.)"""
    from django.db import connection
    from django.db.backends.signals import connection_created

    def pragma(connection, **kwargs):
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA read_uncommitted = 1")

    connection_created.connect(pragma)
    pragma(connection)
    yield
    connection_created.disconnect(pragma)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 0")


# ---- real Celery workers (the production-mode run) ----


@pytest.fixture
def workers(transactional_db, tmp_path, settings):
    """Returns a function starting a real prefork Celery worker (``tests.workers.Worker``) on
    a queue of this test's own, against the test database and Redis; this process sends its
    tasks there (``TASKS_MODE=celery``). Workers still running at the end are stopped."""
    import uuid

    from tests.workers import Worker

    settings.TASKS_MODE = "celery"
    settings.TASK_QUEUE = f"test-{uuid.uuid4().hex[:12]}"
    started: list[Worker] = []

    def start(concurrency: int = 2, **env) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        worker = Worker(settings.TASK_QUEUE, log, concurrency=concurrency, env=env)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()
