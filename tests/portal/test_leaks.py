"""Smaller leaks: job-code ids, instance types members may not use, a pasted kubeconfig
shown again, the database file's mode, bidirectional controls in names."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from compute.models import InstanceType
from portal import display
from portal.consumers import LiveConsumer
from portal.models import Workspace
from tests.helpers import make_jobs

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def test_job_code_answers_the_same_for_ids_that_exist_and_ids_that_do_not(compute_ready, personas):
    target = compute_ready.targets.get(name="cpu-target")
    (job,) = make_jobs(target, 1, created_by=personas["scientist"])
    anonymous = Client()
    existing = anonymous.get(f"/api/v1/job-code/{job.pk}/")
    missing = anonymous.get(f"/api/v1/job-code/{job.pk + 1000}/")
    assert existing.status_code == missing.status_code == 403
    assert existing.content == missing.content
    guessed = Client(HTTP_AUTHORIZATION="Bearer guess")
    assert guessed.get(f"/api/v1/job-code/{job.pk}/").content == missing.content


def test_members_see_only_instance_types_their_targets_allow(compute_ready, client_for):
    default = InstanceType.objects.get(cluster=compute_ready, name="defaultinstancetype")
    for target in compute_ready.targets.filter(workspace__slug="team-a"):
        target.allowed_instance_types.set([default])
    scientist = client_for("scientist").get("/api/v1/instance-types/").json()["results"]
    assert [row["name"] for row in scientist] == ["defaultinstancetype"]
    assert all(row["fitting_nodes"] == [] for row in scientist)  # no node names
    gpu = InstanceType.objects.get(name="gpu-small")
    assert client_for("scientist").get(f"/api/v1/instance-types/{gpu.pk}/").status_code == 404
    # team-b's target allows every type of the cluster
    outsider = client_for("outsider").get("/api/v1/instance-types/").json()["results"]
    assert {row["name"] for row in outsider} == {"defaultinstancetype", "gpu-small"}
    itops = client_for("itops").get("/api/v1/instance-types/").json()["results"]
    assert any(row["fitting_nodes"] for row in itops)


def test_a_failed_kubeconfig_form_does_not_show_the_pasted_secret(client_for):
    pasted = (
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://x'}}]\n"
        "users: [{name: u, user: {token: sekrit-do-not-echo}}]\n"
        "contexts: [{name: k, context: {cluster: c, user: u}}]\ncurrent-context: k\n"
    )
    response = client_for("itops").post(
        "/clusters/attach",
        {"mode": "kubeconfig", "name": "leaky", "kubeconfig": pasted, "context": "nope"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "nope" in page  # the rest of the form is kept
    assert "sekrit-do-not-echo" not in page and "users:" not in page


def test_the_embedded_database_is_readable_by_its_user_only(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["PORTAL_DATA_DIR"] = str(tmp_path / "fresh")
    older = tmp_path / "older"
    older.mkdir()
    (older / "portal.sqlite3").write_bytes(b"")
    (older / "portal.sqlite3").chmod(0o644)
    code = "import django; django.setup(); from django.db import connection; connection.ensure_connection()"
    for folder in ("fresh", "older"):
        env["PORTAL_DATA_DIR"] = str(tmp_path / folder)
        env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
        subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)
        mode = stat.S_IMODE((tmp_path / folder / "portal.sqlite3").stat().st_mode)
        assert mode == 0o600, (folder, oct(mode))
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700


def test_bidirectional_controls_are_shown_not_obeyed(client_for, team_a):
    Workspace.objects.filter(pk=team_a.pk).update(name="Team \u202eexe.fdp")
    page = client_for("admin").get("/workspaces/team-a/").content.decode()
    assert "\u202e" not in page and "Team ⟨U+202E⟩exe.fdp" in page
    api = client_for("admin").get("/api/v1/workspaces/team-a/").json()
    assert api["name"] == "Team \u202eexe.fdp"  # the API returns what was stored
    assert display.neutralise("a\u2066b\u200fc") == "a⟨U+2066⟩b⟨U+200F⟩c"
    assert display.neutralise("plain") == "plain"


async def test_live_fragments_show_them_too():
    sent = []

    class Recording(LiveConsumer):
        async def base_send(self, message):
            sent.append(message)

    consumer = Recording()
    await consumer.send(text_data="<p>\u202eabc</p>")
    assert sent == [{"type": "websocket.send", "text": "<p>⟨U+202E⟩abc</p>"}]
