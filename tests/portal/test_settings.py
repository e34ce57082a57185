"""Production mode refuses to start without real secrets; its deploy check is clean."""

import io
import os
import subprocess
import sys
from pathlib import Path

from portal.management.commands.runportal import sandbox_runtime_args

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PORTAL_", "DATABASE_URL", "REDIS_URL"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_default_secret_key(tmp_path):
    result = run_manage(
        "check", DATABASE_URL="postgres://127.0.0.1/test", PORTAL_DATA_DIR=str(tmp_path)
    )
    assert result.returncode != 0
    assert "PORTAL_SECRET_KEY" in result.stderr


def test_production_refuses_missing_encryption_key(tmp_path):
    result = run_manage(
        "check",
        DATABASE_URL="postgres://127.0.0.1/test",
        PORTAL_SECRET_KEY="x" * 60,
        PORTAL_DATA_DIR=str(tmp_path),
    )
    assert result.returncode != 0
    assert "PORTAL_ENCRYPTION_KEYS" in result.stderr


def test_deploy_check_is_clean_in_production(tmp_path):
    from cryptography.fernet import Fernet

    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DATABASE_URL="postgres://127.0.0.1/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        PORTAL_SECRET_KEY="k3J9v!xQ2@pZ7#rT5$wY8%uB1^nM4&cF6*hL0(dS3)gA9-eR2+tK7=iO5_jP8~qV1",
        PORTAL_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        PORTAL_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runportal_offers_websocket_compression_only_when_asked(monkeypatch, settings):
    """Off by default (a compressor per socket cost a thousand tabs more than half their
    latency); ``PORTAL_WS_DEFLATE=1`` turns it on."""
    import uvicorn
    from django.core.management import call_command

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    for wanted in (False, True):
        settings.WS_DEFLATE = wanted
        call_command("runportal", "--no-sandbox", stdout=io.StringIO())
    assert [c["ws_per_message_deflate"] for c in calls] == [False, True]
    assert all(c["ws"] == "websockets-sansio" for c in calls)
    shown = run_manage(
        "shell", "-c", "from django.conf import settings; print(settings.WS_DEFLATE)"
    )
    assert shown.stdout.strip().splitlines()[-1] == "False"  # the default


def test_sandbox_runtime_is_local_unless_switched_off(tmp_path):
    local = sandbox_runtime_args("local", tmp_path / "var", tmp_path)
    assert local[:2] == ["--runtime", "local"]
    assert local[local.index("--runtime-hide") + 1] == str(tmp_path / "var")
    assert sandbox_runtime_args("simulate", tmp_path / "var", tmp_path) == [
        "--runtime",
        "simulate",
    ]


def test_a_task_a_lost_worker_held_comes_back_in_minutes_not_an_hour():
    """Late acknowledgement, redelivery when a worker dies, and a visibility time-out that
    fits the tasks (the Redis transport's default is an hour)."""
    from portal.celery import app

    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.broker_transport_options["visibility_timeout"] == 300
    assert app.conf.worker_prefetch_multiplier == 1


def test_beat_keeps_its_schedule_file_in_the_data_directory(settings):
    from portal.celery import app

    assert Path(app.conf.beat_schedule_filename).parent == Path(settings.DATA_DIR)


def test_plain_http_trials_can_turn_the_redirect_and_secure_cookies_off(tmp_path):
    from cryptography.fernet import Fernet

    production = {
        "DATABASE_URL": "postgres://127.0.0.1/test",
        "PORTAL_SECRET_KEY": "x" * 60,
        "PORTAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PORTAL_DATA_DIR": str(tmp_path),
    }
    show = "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_REDIRECT_EXEMPT)"
    result = run_manage("shell", "-c", show, **production)
    assert "True True True" in result.stdout, result.stderr
    assert "healthz" in result.stdout and "readyz" in result.stdout
    result = run_manage(
        "shell",
        "-c",
        show,
        PORTAL_SECURE_SSL_REDIRECT="0",
        PORTAL_SECURE_COOKIES="0",
        **production,
    )
    assert "False False False" in result.stdout, result.stderr
