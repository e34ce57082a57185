"""``kp model`` against a real portal (uvicorn): create from a folder, a file, a job's outputs
and a URI; list, show, download, archive; the refusals and their exit codes."""

import io
import json

import pytest

from cli.main import main as kp
from tests.helpers import kp_logged_in, make_jobs
from tracking import artifacts, store

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cli_env(portal_server, personas, tmp_path, monkeypatch, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "artifacts"), "allow_overwrite": True},
        },
    }
    from django.core.files.storage import storages

    storages._storages.pop("artifacts", None)
    with kp_logged_in(portal_server, personas["scientist"], tmp_path, monkeypatch) as raw:
        yield raw
    storages._storages.pop("artifacts", None)


@pytest.fixture
def trained_job(personas, team_a):
    from compute.models import Cluster, ComputeTarget

    experiment = store.experiment_create(team_a, "digits")
    run = store.run_create(experiment=experiment, name="train", user=personas["scientist"])
    for path, data in {
        "outputs/model/MLmodel": b"flavors: {}\n",
        "outputs/model/m.pkl": b"pkl",
    }.items():
        artifacts.save(team_a.pk, f"{run.artifact_root}/{path}", io.BytesIO(data), len(data))
    cluster = Cluster.objects.create(name="c", server="https://x", credentials=b"")
    target = ComputeTarget.objects.create(
        workspace=team_a, cluster=cluster, name="t", namespace="t"
    )
    (job,) = make_jobs(target, 1, prefix="train", created_by=personas["scientist"], run=run)
    return job


def run_kp(capsys, *argv) -> tuple[int, str, str]:
    code = kp(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_model_commands_end_to_end(cli_env, capsys, tmp_path, trained_job):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    code, out, err = run_kp(capsys, "model", "create", "--name", "digits", "--type", "mlflow_model",
                            "--path", str(folder), "--tag", "team=a")  # fmt: skip
    assert code == 0, err
    assert "Registered model digits:1 (mlflow_model, 2 file(s), 14 bytes)" in out
    single = tmp_path / "model.onnx"
    single.write_bytes(b"onnx")
    code, out, err = run_kp(capsys, "-o", "json", "model", "create", "--name", "digits",
                            "--version", "5", "--path", str(single))  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["files"] == [{"path": "model.onnx", "size": 4}]
    code, out, err = run_kp(capsys, "-o", "json", "model", "create", "--name", "from-job",
                            "--from-job", trained_job.name, "--artifact-path", "outputs/model")  # fmt: skip
    assert code == 0, err
    made = json.loads(out)
    assert (made["job_name"], made["run_id"]) == (trained_job.name, trained_job.run.run_id)
    assert [f["path"] for f in made["files"]] == ["MLmodel", "m.pkl"]
    code, out, err = run_kp(
        capsys, "model", "create", "--name", "remote", "--path", "pvc://models/remote"
    )
    assert code == 0, err

    code, out, err = run_kp(capsys, "model", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "TYPE", "SOURCE", "CREATED"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["digits", "5"],
        ["from-job", "1"],
        ["remote", "1"],
    ]
    code, out, err = run_kp(capsys, "model", "show", "digits", "--label", "latest")
    assert code == 0 and "Version:" in out and "5" in out and "model.onnx" in out
    code, out, err = run_kp(capsys, "model", "show", "from-job", "--version", "1")
    assert "Job:" in out and trained_job.name in out

    target = tmp_path / "down"
    code, out, err = run_kp(
        capsys, "model", "download", "digits", "--version", "1", "--download-path", str(target)
    )
    assert code == 0, err
    assert (target / "digits" / "sub" / "weights.bin").read_bytes() == b"\x00\x01"
    assert (target / "digits" / "MLmodel").read_text() == "flavors: {}\n"

    code, out, err = run_kp(capsys, "model", "archive", "digits", "--version", "5")
    assert code == 0 and "Archived model digits:5" in out
    code, out, err = run_kp(capsys, "-o", "json", "model", "show", "digits")
    assert json.loads(out)["version"] == "1"
    code, out, err = run_kp(capsys, "model", "archive", "digits", "--version", "5", "--restore")
    assert code == 0 and "Restored" in out


def test_model_refusals_and_exit_codes(cli_env, capsys, tmp_path):
    assert run_kp(capsys, "model", "create", "--name", "m", "--path", "pvc://m/x")[0] == 0
    code, out, err = run_kp(
        capsys, "model", "create", "--name", "m", "--version", "1", "--path", "pvc://m/y"
    )
    assert code == 1 and "already has version 1" in err
    code, out, err = run_kp(
        capsys, "model", "create", "--name", "m", "--path", str(tmp_path / "nothing")
    )
    assert code == 2 and "no such file or folder" in err
    code, out, err = run_kp(capsys, "model", "create", "--name", "m")
    assert code == 2 and "missing --path" in err
    code, out, err = run_kp(capsys, "model", "create", "--name", "m", "--from-job", "j")
    assert code == 2 and "--artifact-path" in err
    code, out, err = run_kp(capsys, "model", "create", "--name", "m", "--path", "runs:/feed/model")
    assert code == 1 and "path: No run feed" in err
    code, out, err = run_kp(capsys, "model", "create", "--name", "9m", "--path", "pvc://m/x")
    assert code == 1 and "name:" in err
    code, out, err = run_kp(capsys, "model", "show", "ghost")
    assert code == 4 and "No model ghost@latest" in err
    code, out, err = run_kp(capsys, "model", "download", "m", "--version", "1")
    assert code == 1 and "pvc://m/x" in err
