"""Jobs whose code really runs: the portal against a kubesim with the local runtime.

The sandbox of ``make run`` starts kubesim with ``--runtime local``; here one such kubesim
serves the module (over HTTPS, as the sandbox does), so a job's command runs as a process,
its log is what the process printed, and its exit code decides the job. Pods fetch a job's
code from the portal itself: the portal is served live (uvicorn in a thread) and
``PORTAL_PUBLIC_URL`` points at it, as ``make run`` points it at its own address.
"""

import io
import json
import tarfile
from pathlib import Path

import pytest
from django.test import Client

from compute import kubeconfig, services
from jobs.models import InstanceLog, Job, Status
from kubesim.runtime.options import RuntimeOptions
from kubesim.server import KubeSim
from tests.cli.test_cli_e2e import run
from tests.conftest import NODES
from tests.helpers import kp_logged_in, run_until_terminal

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "jobs"
JOB = """
type: command
name: {name}
command: {command}
environment:
  image: python:3.11-slim
compute: azureml:cpu-target
"""


@pytest.fixture(scope="module")
def local_sim(tmp_path_factory):
    """A kubesim whose pods of Python and helper images run as local processes."""
    folder = tmp_path_factory.mktemp("kubesim-local")
    server = KubeSim(
        port=0,
        nodes=NODES,
        speed=20,
        tls=True,
        kubeconfig=str(folder / "kubeconfig"),
        runtime=RuntimeOptions(mode="local", root=str(folder / "runtime")),
    ).start()
    yield server
    server.stop()


@pytest.fixture
def local_target(local_sim, team_a, portal_server, settings, sqlite_readers_never_wait):
    """The local kubesim attached with the extension, target cpu-target in team-a, and the
    portal's public URL set to the live server the pods fetch code from."""
    settings.PUBLIC_URL = portal_server

    def wipe():
        for ns in local_sim.store.list("namespaces")[0]:
            if ns["metadata"]["name"].startswith("team-"):
                local_sim.store.delete("namespaces", ns["metadata"]["name"])

    local_sim.call(wipe)
    access = kubeconfig.read(Path(local_sim.kubeconfig_path).read_text())
    cluster = services.cluster_attach(name="local", access=access)
    services.extension_install(cluster=cluster, training=True, inference=True, node_selector={})
    cluster.refresh_from_db()
    services.target_create(
        workspace=team_a,
        cluster=cluster,
        name="cpu-target",
        namespace="team-a",
        create_namespace=True,
    )
    # Outputs without a path go to the portal-outputs claim the target created.
    assert local_sim.call(
        lambda: local_sim.store.get("persistentvolumeclaims", "portal-outputs", namespace="team-a")
    )
    return cluster


def submit(client, text, **overrides):
    response = client.post(
        "/api/v1/workspaces/team-a/jobs/",
        {"yaml": text, "overrides": overrides},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    return Job.objects.get(name=response.json()["name"])


def stored_log(client, name: str) -> str:
    response = client.get(f"/api/v1/workspaces/team-a/jobs/{name}/logs/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_job_prints_what_its_command_computes(local_target, client_for):
    client = client_for("scientist")
    command = 'python -c "print(sum(range(10)))"'
    job = run_until_terminal(submit(client, JOB.format(name="sum", command=command)).pk, timeout=60)
    assert job.status == Status.COMPLETED, job.status_reason
    log = stored_log(client_for("reader"), "sum")
    assert "45" in log.splitlines()
    assert "epoch" not in log  # no made-up training output


def test_a_failing_script_shows_its_traceback_and_exit_code(local_target, client_for):
    client = client_for("scientist")
    command = "python -c \"print('starting'); 1 / 0\""
    job = run_until_terminal(
        submit(client, JOB.format(name="boom", command=command)).pk, timeout=60
    )
    assert job.status == Status.FAILED and "exited with code 1" in job.status_reason
    log = stored_log(client, "boom")
    assert "starting" in log and "Traceback (most recent call last)" in log
    assert "ZeroDivisionError: division by zero" in log
    exits = JOB.format(name="seven", command='python -c "raise SystemExit(7)"')
    job = run_until_terminal(submit(client, exits).pk, timeout=60)
    assert job.status == Status.FAILED and "exited with code 7" in job.status_reason


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_job_with_code_fetches_it_from_the_portal_and_runs_it(local_target, client_for):
    client = client_for("scientist")
    script = (SAMPLES / "src" / "train.py").read_bytes()
    upload = client.post(
        "/api/v1/workspaces/team-a/code/",
        _tarball({"train.py": script, "data/greeting.txt": b"hello from the upload\n"}),
        content_type="application/gzip",
    )
    assert upload.status_code == 201, upload.content
    command = "cat data/greeting.txt && python train.py --epochs 3 --model-dir /tmp/model"
    job = submit(client, JOB.format(name="coded", command=command), code=upload.json()["ref"])
    job = run_until_terminal(job.pk, timeout=60)
    assert job.status == Status.COMPLETED, job.status_reason
    log = stored_log(client, "coded")
    assert "hello from the upload" in log
    assert "epoch 3/3 loss=0.1250" in log


def test_a_job_without_its_code_fails_as_on_a_cluster(local_target, client_for):
    client = client_for("scientist")
    job = submit(client, JOB.format(name="nocode", command="python train.py"))
    job = run_until_terminal(job.pk, timeout=60)
    assert job.status == Status.FAILED and "exited with code 2" in job.status_reason
    assert "can't open file" in stored_log(client, "nocode")


@pytest.fixture
def kp_login(local_target, portal_server, personas, tmp_path, monkeypatch):
    """`kp` logged in to the live portal as the scientist, with the reconcile pass running."""
    with kp_logged_in(portal_server, personas["scientist"], tmp_path, monkeypatch):
        yield portal_server


@pytest.mark.parametrize(
    "sample,expected",
    [
        ("hello-world.yml", "hello world"),
        ("env-vars.yml", "hello from vision (run "),
        ("inputs.yml", "'--data', '/inputs/iris/iris.csv'"),
        ("code-folder.yml", "epoch 2/2 loss=0.2500"),
        ("mpi.yml", "world size 4"),
    ],
)
def test_the_samples_run_their_real_commands(kp_login, capsys, sample, expected):
    extra = []
    if sample == "inputs.yml":  # the sample names `make run`'s address; here the live server
        extra = ["--set", f"inputs.iris.path={kp_login}/static/samples/iris.csv"]
    code, out, err = run(
        capsys, "-o", "json", "job", "create", "-f", str(SAMPLES / sample), "--stream", *extra
    )
    assert code == 0, out + err
    job = Job.objects.get(name=json.loads(out)["name"])
    assert job.status == Status.COMPLETED, job.status_reason
    logs = "".join(log.text + log.tail for log in InstanceLog.objects.filter(job=job))
    assert expected in logs, logs


def test_the_training_sample_is_a_run_with_charts_params_outputs_and_a_model(
    kp_login, capsys, tmp_path
):
    """samples/train-digits: the job logs with MLflow unchanged, its run follows the job,
    its outputs/ folder is uploaded, and the CLI tells the same story."""
    sample = Path(__file__).resolve().parents[2] / "samples" / "train-digits" / "job.yml"
    code, out, err = run(
        capsys, "-o", "json", "job", "create", "-f", str(sample), "--stream",
        "--set", "inputs.epochs=4",
    )  # fmt: skip
    assert code == 0, out + err
    job = Job.objects.select_related("run").get(name=json.loads(out)["name"])
    assert job.status == Status.COMPLETED, job.status_reason
    run_row = job.run
    assert run_row.status == "FINISHED" and run_row.experiment.name == "digits"
    assert dict(run_row.params.values_list("key", "value"))["epochs"] == "4"
    code, out, err = run(capsys, "-o", "json", "job", "metrics", job.name, "--key", "train_loss")
    assert code == 0, err
    # log_model (MLflow 3) links the run's latest metrics to the model at its step 0, and
    # the client sends them as points again, as against an MLflow server.
    steps = [p["step"] for p in json.loads(out)]
    assert sorted(set(steps)) == [0, 1, 2, 3] and len(steps) in (4, 5)
    code, out, err = run(capsys, "job", "show", job.name)
    assert code == 0 and f"Run: {run_row.run_id}" in out and "test_accuracy" in out
    code, out, err = run(capsys, "job", "download", job.name, "--download-path", str(tmp_path))
    assert code == 0, err
    matrix = json.loads((tmp_path / job.name / "outputs" / "confusion_matrix.json").read_text())
    assert len(matrix["matrix"]) == 10
    assert run_row.logged_models.get().status == "LOGGED_MODEL_READY"
    # The job's page shows what the run logged: charts of its metrics, its outputs.
    viewer = Client()
    viewer.force_login(job.created_by)
    page = viewer.get(f"/jobs/{job.workspace.slug}/{job.name}/").content.decode()
    assert 'value="train_loss"' in page and "<td>epochs</td>" in page
    assert "outputs/" in page
    outputs = viewer.get(
        f"/runs/{job.workspace.slug}/{run_row.run_id}/files", {"path": "outputs"}
    ).content.decode()
    assert 'data-file="outputs/confusion_matrix.json"' in outputs
    series = viewer.get(f"/runs/{job.workspace.slug}/{run_row.run_id}/series").json()["series"]
    assert len(series["train_loss"]["x"]) >= 4
