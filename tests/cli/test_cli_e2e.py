"""The command-line client end to end: a real portal (uvicorn), kubesim, the sample job files."""

import json
from pathlib import Path

import pytest

from cli.main import main as kp
from tests.helpers import kp_logged_in

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "jobs"


@pytest.fixture
def cli_env(compute_ready, portal_server, personas, tmp_path, monkeypatch):
    with kp_logged_in(portal_server, personas["scientist"], tmp_path, monkeypatch) as raw:
        yield raw


def run(capsys, *argv) -> tuple[int, str, str]:
    code = kp(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "sample,extra,expected_code,expected_status",
    [
        ("hello-world.yml", [], 0, "Completed"),
        ("env-vars.yml", [], 0, "Completed"),
        ("inputs.yml", [], 0, "Completed"),
        ("code-folder.yml", [], 0, "Completed"),
        ("pytorch-distributed.yml", [], 0, "Completed"),
        ("tensorflow-distributed.yml", [], 0, "Completed"),
        ("mpi.yml", [], 0, "Completed"),
        ("instance-type.yml", [], 0, "Completed"),
        ("timeout.yml", ["--set", "environment_variables.KUBESIM_DURATION=600"], 1, "Failed"),
    ],
)
def test_samples_run_through_the_cli(
    cli_env, capsys, sample, extra, expected_code, expected_status
):
    code, out, err = run(
        capsys, "-o", "json", "job", "create", "-f", str(SAMPLES / sample), "--stream", *extra
    )
    assert code == expected_code, out + err
    job = json.loads(out)
    assert job["status"] == expected_status
    if expected_status == "Failed":
        assert "DeadlineExceeded" in job["status_reason"]


def test_list_show_cancel_and_errors(cli_env, capsys, portal_server):
    code, out, err = run(
        capsys,
        "job",
        "create",
        "-f",
        str(SAMPLES / "hello-world.yml"),
        "--set",
        "name=from-cli",
        "--set",
        "environment_variables.KUBESIM_DURATION=600",
    )
    assert code == 0, err
    assert "from-cli" in out
    code, out, _ = run(capsys, "-o", "json", "job", "list", "--experiment", "samples")
    assert code == 0 and "from-cli" in [j["name"] for j in json.loads(out)]
    code, out, _ = run(capsys, "job", "show", "from-cli")
    assert code == 0 and "from-cli" in out
    code, out, err = run(capsys, "job", "cancel", "from-cli")
    assert code == 0, err
    code, out, err = run(capsys, "job", "cancel", "from-cli")
    assert code == 1 and "already ended" in err
    code, _, err = run(capsys, "job", "show", "nope")
    assert code == 4
    code, _, err = run(
        capsys,
        "job",
        "create",
        "-f",
        str(SAMPLES / "hello-world.yml"),
        "--set",
        "compute=team-b-target",
    )
    assert code == 1 and "compute" in err
    code, out, _ = run(capsys, "-o", "json", "compute", "list")
    assert code == 0 and {t["name"] for t in json.loads(out)} == {"cpu-target", "gpu-target"}
    code, out, _ = run(capsys, "instance-type", "list", "--compute", "gpu-target")
    assert code == 0 and "gpu-small" in out
    code, _, err = run(
        capsys,
        "environment",
        "create",
        "--name",
        "torch",
        "--version",
        "1",
        "--image",
        "pytorch/pytorch:2.5.1",
    )
    assert code == 0, err
    code, _, err = run(
        capsys,
        "environment",
        "create",
        "--name",
        "torch",
        "--version",
        "1",
        "--image",
        "pytorch/pytorch:2.5.1",
    )
    assert code == 1 and "already exists" in err
    code, out, _ = run(capsys, "environment", "list")
    assert code == 0 and "torch" in out
    bad = Path(cli_env and "/tmp") / "kp-bad.yml"
    bad.write_text("command: [oops\n")
    code, _, err = run(capsys, "job", "create", "-f", str(bad))
    assert code == 2 and "kp-bad.yml:2:1" in err
    code, _, err = run(capsys, "--token", "kp_wrong", "job", "list")
    assert code == 3
    code, _, err = run(capsys, "--url", "http://127.0.0.1:9", "job", "list")
    assert code == 5
