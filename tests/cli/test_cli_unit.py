"""kp against a stub portal, in-process: config, job submission, errors and exit codes."""

from __future__ import annotations

import io
import json
import socket
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from cli import follow
from cli.main import main

from .conftest import CODE_SHA, TOKEN, WORKSPACE, StubPortal

JOB_YAML = """\
command: python train.py --epochs 2
code: ./src
environment:
  image: python:3.11-slim
compute: gpu-pool
resources:
  instance_count: 1
"""


@pytest.fixture(autouse=True)
def kp_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated config path, no KP_* settings from the caller, no waiting between polls."""
    path = tmp_path / "home" / "kubeportal" / "config.json"
    monkeypatch.setenv("KP_CONFIG", str(path))
    for name in ("KP_URL", "KP_TOKEN", "KP_WORKSPACE", "KP_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(follow, "POLL_INTERVAL", 0)
    return path


@pytest.fixture
def logged_in(stub_portal: StubPortal, kp_env: Path) -> StubPortal:
    """A saved config pointing at the stub portal."""
    kp_env.parent.mkdir(parents=True)
    config = {"url": stub_portal.url, "token": TOKEN, "workspace": WORKSPACE}
    kp_env.write_text(json.dumps(config))
    return stub_portal


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    """A job file next to a small code folder."""
    folder = tmp_path / "project"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "train.py").write_text("print('training')\n")
    (folder / "job.yml").write_text(JOB_YAML)
    return folder


def kp(*argv: str) -> int:
    return main(list(argv))


# ------------------------------------------------------------------ login / config


def test_login_verifies_token_and_writes_private_config(stub_portal, kp_env, capsys):
    code = kp("login", "--url", stub_portal.url + "/", "--token", TOKEN, "--workspace", "team-b")

    assert code == 0
    assert stub_portal.requests_to("GET", "/api/v1/me/")[0].headers["Authorization"] == (
        f"Bearer {TOKEN}"
    )
    assert json.loads(kp_env.read_text()) == {
        "url": stub_portal.url,
        "token": TOKEN,
        "workspace": "team-b",
    }
    assert stat.S_IMODE(kp_env.stat().st_mode) == 0o600
    assert "scientist" in capsys.readouterr().out


def test_login_with_a_bad_token_exits_3_and_saves_nothing(stub_portal, kp_env, capsys):
    assert kp("login", "--url", stub_portal.url, "--token", "wrong") == 3
    assert not kp_env.exists()
    err = capsys.readouterr().err
    assert "Invalid token." in err and "Traceback" not in err


def test_login_reads_the_token_from_stdin(stub_portal, kp_env, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(TOKEN + "\n"))
    monkeypatch.setenv("KP_URL", stub_portal.url)

    assert kp("login", "--token", "-") == 0
    saved = json.loads(kp_env.read_text())
    assert saved["token"] == TOKEN
    assert saved["workspace"] is None  # two workspaces: the user must choose


def test_login_to_a_workspace_that_is_not_yours_exits_4(stub_portal, kp_env):
    assert kp("login", "--url", stub_portal.url, "--token", TOKEN, "-w", "team-z") == 4
    assert not kp_env.exists()


def test_logout_removes_the_token(logged_in, kp_env):
    assert kp("logout") == 0
    assert json.loads(kp_env.read_text())["token"] is None
    assert kp("job", "list") == 3


def test_not_logged_in_exits_3(capsys):
    assert kp("job", "list") == 3
    assert "kp login" in capsys.readouterr().err


def test_environment_variables_replace_the_config(stub_portal, monkeypatch, capsys):
    monkeypatch.setenv("KP_URL", stub_portal.url)
    monkeypatch.setenv("KP_TOKEN", TOKEN)
    monkeypatch.setenv("KP_WORKSPACE", WORKSPACE)
    assert kp("compute", "list") == 0
    out = capsys.readouterr().out
    assert "gpu-pool" in out and "cpu 4/16 (25%)" in out


# ------------------------------------------------------------------ job create


def test_job_create_uploads_the_code_folder_then_posts_the_job(logged_in, job_dir, capsys):
    code = kp("job", "create", "-f", str(job_dir / "job.yml"),
              "--set", "resources.instance_count=2", "--set", "compute=cpu-pool")  # fmt: skip

    assert code == 0
    upload = logged_in.requests_to("POST", f"/workspaces/{WORKSPACE}/code/")[0]
    assert upload.headers["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(upload.body), mode="r:gz") as archive:
        assert any(name.endswith("train.py") for name in archive.getnames())
    post = logged_in.requests_to("POST", f"/workspaces/{WORKSPACE}/jobs/")[0].json()
    assert post["yaml"] == JOB_YAML
    assert post["overrides"] == {
        "resources.instance_count": "2",
        "compute": "cpu-pool",
        "code": f"portal:code/{CODE_SHA}",
    }
    out = capsys.readouterr().out
    assert "job-1" in out and "Queued" in out
    assert f"{logged_in.url}/workspaces/{WORKSPACE}/jobs/job-1/" in out


def test_job_create_with_a_portal_reference_uploads_nothing(logged_in, job_dir, capsys):
    (job_dir / "job.yml").write_text(JOB_YAML.replace("./src", f"portal:code/{CODE_SHA}"))
    assert kp("-o", "json", "job", "create", "-f", str(job_dir / "job.yml")) == 0
    assert not logged_in.requests_to("POST", "/code/")
    assert json.loads(capsys.readouterr().out)["name"] == "job-1"


def test_yaml_syntax_error_exits_2_with_file_line_and_column(logged_in, job_dir, capsys):
    path = job_dir / "job.yml"
    path.write_text("command: echo hi\nenvironment:\n  image: [unclosed\ncompute: x\n")

    assert kp("job", "create", "-f", str(path)) == 2
    err = capsys.readouterr().err
    assert f"{path}:4:" in err  # the line where the flow sequence is found unclosed
    assert logged_in.seen == []


def test_missing_job_file_or_code_folder_exits_2(logged_in, job_dir, capsys):
    assert kp("job", "create", "-f", str(job_dir / "nope.yml")) == 2
    assert "no such file" in capsys.readouterr().err
    (job_dir / "job.yml").write_text(JOB_YAML.replace("./src", "./missing"))
    assert kp("job", "create", "-f", str(job_dir / "job.yml")) == 2
    assert "./missing" in capsys.readouterr().err
    assert logged_in.seen == []


def test_malformed_set_is_a_usage_error(logged_in, job_dir, capsys):
    assert kp("job", "create", "-f", str(job_dir / "job.yml"), "--set", "novalue") == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_server_validation_errors_exit_1_one_line_each(logged_in, job_dir, capsys):
    logged_in.forced[("POST", f"/api/v1/workspaces/{WORKSPACE}/jobs/")] = (
        400,
        {
            "detail": "The job spec is not valid.",
            "errors": {
                "resources.instance_count": ["line 7, column 3: must be an integer ≥ 1"],
                "compute": ["no compute target named gpu-pool", "check `kp compute list`"],
            },
        },
    )
    path = job_dir / "job.yml"

    assert kp("job", "create", "-f", str(path)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("Uploaded code ./src")
    assert err[1:] == [
        "kp: The job spec is not valid. (HTTP 400)",
        f"kp: {path}:7:3: resources.instance_count: must be an integer ≥ 1",
        "kp: compute: no compute target named gpu-pool",
        "kp: compute: check `kp compute list`",
    ]


# ------------------------------------------------------------------ other errors


def test_unknown_job_exits_4(logged_in, capsys):
    assert kp("job", "show", "nope") == 4
    assert "No job named nope" in capsys.readouterr().err


def test_forbidden_exits_3(logged_in):
    logged_in.forced[("GET", f"/api/v1/workspaces/{WORKSPACE}/environments/")] = (
        403,
        {"detail": "You do not have permission to perform this action."},
    )
    assert kp("environment", "list") == 3


def test_conflict_exits_1(logged_in, capsys):
    logged_in.forced[("POST", f"/api/v1/workspaces/{WORKSPACE}/environments/")] = (
        409,
        {"detail": "Environment torch:1 already exists."},
    )
    assert kp("environment", "create", "--name", "torch", "--version", "1", "--image", "x") == 1
    assert "already exists" in capsys.readouterr().err


def test_unreachable_portal_exits_5(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert kp("--url", url, "--token", TOKEN, "-w", WORKSPACE, "job", "list") == 5
    err = capsys.readouterr().err
    assert "cannot reach the portal" in err and "Traceback" not in err


def test_server_failure_exits_5(logged_in):
    logged_in.forced[("GET", f"/api/v1/workspaces/{WORKSPACE}/jobs/")] = (502, {"detail": "x"})
    assert kp("job", "list") == 5


def test_help_documents_exit_codes(capsys):
    assert kp("--help") == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "cannot reach the portal" in out


def test_missing_subcommand_is_a_usage_error():
    assert kp("job") == 2
    assert kp("job", "show") == 2


# ------------------------------------------------------------------ output


def test_job_list_as_table_and_as_json(logged_in, capsys):
    logged_in.job("train-a", "Running")
    logged_in.job("train-b", "Failed", status_reason="OOMKilled")

    assert kp("job", "list", "--status", "Running", "--tag", "team=vision", "--limit", "5") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATUS"]
    assert lines[1].split()[:2] == ["train-a", "Running"]
    query = logged_in.requests_to("GET", f"/workspaces/{WORKSPACE}/jobs/")[0].query
    assert query["status"] == ["Running"] and query["tag"] == ["team=vision"]
    assert query["limit"] == ["5"]

    assert kp("job", "list", "--output", "json") == 0
    jobs = json.loads(capsys.readouterr().out)
    assert [job["name"] for job in jobs] == ["train-a", "train-b"]


def test_instance_types_and_workspaces_tables(logged_in, capsys):
    assert kp("instance-type", "list", "--compute", "gpu-pool") == 0
    out = capsys.readouterr().out
    assert "small" in out and "3/4" in out and "cpu=2 memory=4Gi" in out
    assert logged_in.seen[-1].query["compute"] == ["gpu-pool"]
    assert kp("workspace", "list") == 0
    assert "* " in capsys.readouterr().out


def test_clone_sends_overrides(logged_in, capsys):
    logged_in.job("train-a", "Completed")
    assert kp("job", "clone", "train-a", "--set", "inputs.lr=0.1") == 0
    assert logged_in.requests_to("POST", "/clone/")[0].json() == {"overrides": {"inputs.lr": "0.1"}}
    assert "job-1" in capsys.readouterr().out


# ------------------------------------------------------------------ streaming


def _script_job(portal: StubPortal, final: str, reason: str | None = None) -> None:
    portal.scripts["job-1"] = [
        ("Queued", None, 0),
        ("Running", None, 1),
        ("Running", None, 3),
        (final, reason, 4),
    ]
    portal.logs["job-1"] = ["epoch 1", "epoch 2", "epoch 3", "bye"]


def test_stream_prints_statuses_and_new_log_lines_then_exits_0(logged_in, job_dir, capsys):
    _script_job(logged_in, "Completed")
    assert kp("job", "create", "-f", str(job_dir / "job.yml"), "--stream") == 0
    out = capsys.readouterr().out.splitlines()
    streamed = out[out.index("==> Queued") :]
    assert streamed == [
        "==> Queued",
        "==> Running",
        "epoch 1",
        "epoch 2",
        "epoch 3",
        "bye",
        "==> Completed",
        "Job job-1 completed.",
    ]
    since = [r.query["since_line"] for r in logged_in.requests_to("GET", "/logs/")]
    assert since == [["0"], ["0"], ["1"], ["3"]]


def test_stream_of_a_failed_job_exits_1_with_the_reason(logged_in, job_dir, capsys):
    _script_job(logged_in, "Failed", "OOMKilled: the container ran out of memory")
    assert kp("job", "create", "-f", str(job_dir / "job.yml"), "--stream") == 1
    captured = capsys.readouterr()
    assert "==> Failed: OOMKilled" in captured.out
    assert "job job-1 ended Failed: OOMKilled" in captured.err


def test_logs_follow_prints_only_log_lines(logged_in, capsys):
    logged_in.job("job-1")
    _script_job(logged_in, "Canceled")
    assert kp("job", "logs", "job-1", "--follow") == 0
    assert capsys.readouterr().out.splitlines() == ["epoch 1", "epoch 2", "epoch 3", "bye"]


# ------------------------------------------------------------------ laptop-friendly


def test_the_cli_imports_no_django():
    code = (
        "import sys, cli.main, cli.jobfile; cli.jobfile.parse_job_text('a: 1', 'x'); "
        "sys.exit(any(m.startswith('django') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_code_folder_over_the_size_limit_exits_2(logged_in, job_dir, monkeypatch, capsys):
    (job_dir / "src" / "data.bin").write_bytes(bytes(range(256)) * 64)
    monkeypatch.setenv("KP_MAX_CODE_BYTES", "1000")
    assert kp("job", "create", "-f", str(job_dir / "job.yml")) == 2
    assert "cannot pack the code folder" in capsys.readouterr().err
    assert logged_in.seen == []
