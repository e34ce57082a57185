"""Submitting, running, cancelling and cloning jobs against kubesim over HTTP."""

import io
import tarfile
import time

import pytest

from compute.instance_types import DEFAULT_INSTANCE_TYPE
from jobs import gateway, tasks, workflows
from jobs.models import Job, Status
from tests.helpers import run_until_terminal

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = """
type: command
name: hello
experiment_name: samples
command: echo "hello world"
environment:
  image: python:3.11-slim
compute: azureml:cpu-target
environment_variables:
  KUBESIM_LOG_LINES: "hello world"
"""


def submit(client, text, slug="team-a", **overrides):
    return client.post(
        f"/api/v1/workspaces/{slug}/jobs/",
        {"yaml": text, "overrides": overrides},
        content_type="application/json",
    )


def test_hello_world_runs_to_completion(compute_ready, client_for, sim):
    response = submit(client_for("scientist"), HELLO)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "NotStarted" and body["api_url"].endswith("/jobs/hello/")
    job = Job.objects.get(name="hello")
    assert job.status == Status.QUEUED  # the start task ran once the submission committed
    assert job.spec_yaml == HELLO  # stored verbatim
    obj = sim.call(lambda: sim.store.get("jobs.batch", job.object_name, namespace="team-a"))
    assert obj["metadata"]["labels"]["kubeportal.io/job-id"] == str(job.pk)
    job = run_until_terminal(job.pk)
    assert job.status == Status.COMPLETED, job.status_reason
    statuses = [t.to_status for t in job.transitions.all()]
    assert (
        statuses[:2] == ["NotStarted", "Queued"]
        and statuses[-1] == "Completed"
        and "Running" in statuses
    )
    assert len(statuses) == len(set(statuses))  # each transition once
    log = client_for("reader").get("/api/v1/workspaces/team-a/jobs/hello/logs/")
    assert log.status_code == 200 and "hello world" in log.content.decode()
    assert int(log["X-Next-Line"]) >= 1


def test_failure_reasons(compute_ready, client_for):
    response = submit(
        client_for("scientist"),
        HELLO,
        name="crash",
        **{"environment_variables.KUBESIM_EXIT_CODE": "3"},
    )
    assert response.status_code == 202, response.content
    job = run_until_terminal(Job.objects.get(name="crash").pk)
    assert job.status == Status.FAILED and "exited with code 3" in job.status_reason
    submit(
        client_for("scientist"), HELLO, name="oom", **{"environment_variables.KUBESIM_OOM": "true"}
    )
    job = run_until_terminal(Job.objects.get(name="oom").pk)
    assert job.status == Status.FAILED and "OOMKilled" in job.status_reason
    submit(
        client_for("scientist"),
        HELLO,
        name="pull",
        **{"environment.image": "registry.example/does-not-exist:1"},
    )
    job = run_until_terminal(Job.objects.get(name="pull").pk)
    assert job.status == Status.FAILED and "Image pull" in job.status_reason


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"compute": "nowhere"}, "compute", "no compute target “nowhere”"),
        ({"compute": "team-b-target"}, "compute", "no compute target “team-b-target”"),
        ({"resources.instance_type": "gpu-huge"}, "resources.instance_type", "not allowed"),
        ({"resources.instance_count": "two"}, "resources.instance_count", "integer"),
        ({"environment": "azureml:missing:1"}, "environment", "No environment missing:1"),
    ],
)
def test_refusals_name_the_field(compute_ready, client_for, overrides, field, message):
    response = submit(client_for("scientist"), HELLO, **overrides)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in errors and message in " ".join(errors[field]), errors
    assert not Job.objects.exists()


def test_yaml_errors_carry_line_and_column(compute_ready, client_for):
    response = submit(client_for("scientist"), "type: command\ncommand: [unclosed\n")
    assert response.status_code == 400
    assert "line 3, column 1" in str(response.json()["errors"])
    response = submit(client_for("scientist"), HELLO + "resourcez:\n  instance_count: 1\n")
    text = str(response.json()["errors"])
    assert (
        "resourcez" in text and "line 11, column 1" in text and "Did you mean `resources`" in text
    )


def test_name_clash_and_roles(compute_ready, client_for):
    assert submit(client_for("scientist"), HELLO).status_code == 202
    clash = submit(client_for("scientist"), HELLO)
    assert clash.status_code == 400 and "already exists" in str(clash.json()["errors"]["name"])
    assert submit(client_for("reader"), HELLO, name="r").status_code == 403
    assert submit(client_for("outsider"), HELLO, name="o").status_code == 404


def test_instance_type_too_large_for_every_node_is_refused(compute_ready, client_for):
    from compute import services as compute_services

    compute_services.instance_type_save(
        cluster=compute_ready,
        name="enormous",
        node_selector={},
        requests={"cpu": "100", "memory": "1Gi"},
        limits={"cpu": "100", "memory": "1Gi"},
    )
    response = submit(client_for("scientist"), HELLO, **{"resources.instance_type": "enormous"})
    assert response.status_code == 400 and "No node" in str(response.json()["errors"])


def test_cancel_deletes_objects_and_clone_reruns(compute_ready, client_for, sim):
    submit(
        client_for("scientist"),
        HELLO,
        name="long",
        **{"environment_variables.KUBESIM_DURATION": "600"},
    )
    job = Job.objects.get(name="long")
    tasks.job_sync(job.pk)
    cancel = client_for("scientist").post("/api/v1/workspaces/team-a/jobs/long/cancel/")
    assert cancel.status_code == 202
    job.refresh_from_db()
    assert job.status == Status.CANCELED
    assert [t.to_status for t in job.transitions.all()][-2:] == ["CancelRequested", "Canceled"]
    left = sim.call(
        lambda: sim.store.list(
            "jobs.batch", namespace="team-a", label_selector=f"kubeportal.io/job-id={job.pk}"
        )[0]
    )
    assert left == []
    again = client_for("scientist").post("/api/v1/workspaces/team-a/jobs/long/cancel/")
    assert again.status_code == 409
    clone = client_for("scientist").post(
        "/api/v1/workspaces/team-a/jobs/long/clone/",
        {"overrides": {"name": "long-2"}},
        content_type="application/json",
    )
    assert clone.status_code == 202 and clone.json()["name"] == "long-2"
    assert Job.objects.get(name="long-2").cloned_from_id == job.pk
    assert (
        client_for("scientist").delete("/api/v1/workspaces/team-a/jobs/long-2/").status_code == 409
    )
    assert client_for("scientist").delete("/api/v1/workspaces/team-a/jobs/long/").status_code == 204


def test_creation_is_idempotent(compute_ready, client_for):
    submit(client_for("scientist"), HELLO)
    job = Job.objects.get(name="hello")
    from jobs import manifests

    objects = manifests.render_job(
        spec=job.spec,
        job_id=job.pk,
        workspace="team-a",
        target="cpu-target",
        namespace="team-a",
        instance_type=DEFAULT_INSTANCE_TYPE,
        image=job.image,
    )
    first = gateway.create_objects(compute_ready, "team-a", objects)
    second = gateway.create_objects(compute_ready, "team-a", objects)
    assert first == second == job.cluster_uid


def test_unreachable_cluster_retries_then_fails_with_the_reason(compute_ready, client_for, sim):
    sim.faults.error_rate = 1.0
    sim.faults.error_code = 500
    try:
        response = submit(client_for("scientist"), HELLO)
    finally:
        sim.faults.reset()
    assert response.status_code == 202
    job = Job.objects.get(name="hello")
    assert job.status == Status.FAILED
    assert job.submit_attempts == workflows.MAX_ATTEMPTS
    assert "Gave up after 6 attempts" in job.status_reason and "500" in job.status_reason


def test_waiting_job_shows_why_and_starts_when_the_cluster_answers(
    compute_ready, client_for, sim, settings
):
    from portal import background

    settings.TASKS_MODE = "thread"
    sim.faults.error_rate = 1.0
    sim.faults.error_code = 503
    try:
        assert submit(client_for("scientist"), HELLO).status_code == 202
        background.drain()
        job = Job.objects.get(name="hello")
        assert job.status == Status.NOT_STARTED
        assert "waiting for the cluster (attempt 1 of 6" in job.status_reason
    finally:
        sim.faults.reset()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and Job.objects.get(pk=job.pk).status == Status.NOT_STARTED:
        time.sleep(0.2)
    background.drain()
    assert Job.objects.get(pk=job.pk).status == Status.QUEUED


def test_quota_wait_is_explained(compute_ready, client_for, sim):
    from compute import services as compute_services
    from compute.models import ComputeTarget

    target = ComputeTarget.objects.get(name="cpu-target")
    compute_services.target_set_quota(
        target=target, quota_cpu="", quota_memory="", quota_gpu=None, quota_pods=1
    )
    submit(
        client_for("scientist"),
        HELLO,
        name="first",
        **{"environment_variables.KUBESIM_DURATION": "600"},
    )
    first = Job.objects.get(name="first")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Job.objects.get(pk=first.pk).status != Status.RUNNING:
        tasks.job_sync(first.pk)
        time.sleep(0.1)
    submit(client_for("scientist"), HELLO, name="second")
    second = Job.objects.get(name="second")
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline and "quota" not in Job.objects.get(pk=second.pk).status_reason
    ):
        tasks.job_sync(second.pk)
        time.sleep(0.2)
    second.refresh_from_db()
    assert second.status == Status.QUEUED and "waiting for quota in team-a" in second.status_reason


def tarball(members: dict[str, bytes], extra=None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra:
            extra(tar)
    return buffer.getvalue()


def test_code_upload_and_job_scoped_download(compute_ready, client_for, sim):
    client = client_for("scientist")
    good = client.post(
        "/api/v1/workspaces/team-a/code/",
        tarball({"train.py": b"print('hi')\n"}),
        content_type="application/gzip",
    )
    assert good.status_code == 201, good.content
    ref = good.json()["ref"]
    evil = client.post(
        "/api/v1/workspaces/team-a/code/",
        tarball({"../escape.py": b"x"}),
        content_type="application/gzip",
    )
    assert evil.status_code == 400 and ".." in evil.json()["detail"]
    response = submit(client, HELLO, name="coded", code=ref, command="python train.py")
    assert response.status_code == 202, response.content
    job = Job.objects.get(name="coded")
    secret = sim.call(
        lambda: sim.store.get("secrets", f"{job.object_name}-code", namespace="team-a")
    )
    token = (
        secret.get("stringData", {}).get("token")
        or __import__("base64").b64decode(secret["data"]["token"]).decode()
    )
    from django.test import Client

    fetched = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(f"/api/v1/job-code/{job.pk}/")
    assert fetched.status_code == 200
    assert (
        Client(HTTP_AUTHORIZATION="Bearer wrong").get(f"/api/v1/job-code/{job.pk}/").status_code
        == 403
    )
    other = client_for("outsider").post(
        "/api/v1/workspaces/team-b/jobs/",
        {"yaml": HELLO.replace("cpu-target", "team-b-target"), "overrides": {"code": ref}},
        content_type="application/json",
    )
    assert other.status_code == 400 and "code" in other.json()["errors"]


def test_oversized_upload_is_refused(compute_ready, client_for, settings):
    settings.CODE_UPLOAD_MAX_BYTES = 1000
    import os

    response = client_for("scientist").post(
        "/api/v1/workspaces/team-a/code/",
        tarball({"big.bin": os.urandom(5000)}),
        content_type="application/gzip",
    )
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_instance_type_used_by_live_work_cannot_be_deleted(compute_ready, client_for):
    from compute.models import InstanceType

    submit(
        client_for("scientist"),
        HELLO,
        name="gpu-job",
        compute="gpu-target",
        **{"resources.instance_type": "gpu-small", "environment_variables.KUBESIM_DURATION": "600"},
    )
    gpu = InstanceType.objects.get(name="gpu-small")
    response = client_for("itops").delete(f"/api/v1/instance-types/{gpu.pk}/")
    assert response.status_code == 400 and "gpu-job" in str(response.json())
    assert InstanceType.objects.filter(pk=gpu.pk).exists()


def test_logs_are_kept_per_container(compute_ready, client_for):
    client = client_for("scientist")
    ref = client.post(
        "/api/v1/workspaces/team-a/code/",
        tarball({"train.py": b"print(1)\n"}),
        content_type="application/gzip",
    ).json()["ref"]
    submit(client, HELLO, name="with-code", code=ref)
    job = run_until_terminal(Job.objects.get(name="with-code").pk)
    assert job.status == Status.COMPLETED, job.status_reason
    tasks.job_logs_store(job.pk)
    containers = set(job.logs.values_list("container", flat=True))
    assert containers == {"fetch-code", "main"}
    main = client.get(
        "/api/v1/workspaces/team-a/jobs/with-code/logs/?container=main"
    ).content.decode()
    assert "hello world" in main
    page = client.get("/jobs/team-a/with-code/").content.decode()
    assert 'data-container="main"' in page
    assert 'data-container="fetch-code"' in page


def test_a_submission_costs_the_same_few_queries_however_many_jobs_exist(
    compute_ready, client_for, monkeypatch, settings
):
    """Parse once, admit once: the API answers a submission in a fixed number of queries
    (session and user, workspace with the role's answer, target, instance type, the job,
    its first transition and its audit record), the 1st as the 30th. Starting the job is the task's work and
    rendering its live fragments the sender's, not the request's."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs import services
    from portal import live

    settings.LIVE_SEND_IN_BACKGROUND = True  # as served: fragments render on the sender
    monkeypatch.setattr(live, "_enqueue", lambda *args: None)
    queued = []
    monkeypatch.setattr(services, "enqueue", lambda task, *args: queued.append(args))
    client = client_for("scientist")
    counts = []
    for n in range(30):
        with CaptureQueriesContext(connection) as queries:
            response = submit(client, HELLO, name=f"q-{n}")
        assert response.status_code == 202, response.content
        counts.append(len(queries))
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    # the run, its tags, the job, its NotStarted transition and its audit record
    assert len(writes) == 5, writes
    assert len(set(counts[1:])) == 1, counts  # the first may warm a cache
    assert counts[-1] <= 13, "\n".join(q["sql"][:150] for q in queries.captured_queries)
    assert len(queued) == 30
