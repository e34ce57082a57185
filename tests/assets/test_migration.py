"""Environments and code archives moved from the jobs app to assets: rows stored before the
move are there after it, and jobs submitted before it get what they were admitted with."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("assets", None), ("jobs", "0004_instancelog_cursor"), ("compute", "0002_cluster_lease")]
AFTER = [("jobs", "0006_job_admission"), ("assets", "0001_initial")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1]]).apps


@pytest.fixture(autouse=True)
def back_to_the_latest():
    """The tests after this one need every migration applied again."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_rows_stored_before_the_move_are_there_after_it():
    old = migrate(BEFORE)
    Workspace = old.get_model("portal", "Workspace")
    User = old.get_model("portal", "User")
    Cluster = old.get_model("compute", "Cluster")
    Target = old.get_model("compute", "ComputeTarget")
    InstanceType = old.get_model("compute", "InstanceType")
    workspace = Workspace.objects.create(slug="old", name="Old")
    user = User.objects.create(username="old-user")
    old.get_model("jobs", "Environment").objects.create(
        workspace=workspace, name="torch", version="1", image="pytorch/pytorch:2", created_by=user
    )
    old.get_model("jobs", "CodeArchive").objects.create(
        workspace=workspace, sha256="a" * 64, size=10, files=1, uploaded_by=user
    )
    cluster = Cluster.objects.create(name="c", server="https://x", credentials=b"")
    InstanceType.objects.create(
        cluster=cluster,
        name="small",
        node_selector={"pool": "cpu"},
        requests={"cpu": "1"},
        limits={"cpu": "2"},
    )
    target = Target.objects.create(workspace=workspace, cluster=cluster, name="t", namespace="t")
    Job = old.get_model("jobs", "Job")
    common = dict(workspace=workspace, compute=target, spec={}, spec_yaml="", created_by=user)
    Job.objects.create(name="sized", instance_type="small", instance_count=2, **common)
    Job.objects.create(name="gone", instance_type="deleted-since", **common)

    new = migrate(AFTER)
    env = new.get_model("assets", "Environment").objects.get()
    assert (env.name, env.version, env.image, env.workspace.slug) == (
        "torch",
        "1",
        "pytorch/pytorch:2",
        "old",
    )
    assert new.get_model("assets", "CodeArchive").objects.get().sha256 == "a" * 64
    jobs = {j.name: j.admission for j in new.get_model("jobs", "Job").objects.all()}
    assert jobs["sized"] == {
        "instance_type": "small",
        "instance_count": 2,
        "requests": {"cpu": "1"},
        "limits": {"cpu": "2"},
        "node_selector": {"pool": "cpu"},
        "tolerations": [],
    }
    assert jobs["gone"]["instance_type"] == "defaultinstancetype"
