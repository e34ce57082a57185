"""The audit log: every write recorded with who, when, from where and on what, never a
secret; sealed by a hash chain that shows tampering; read by IT operations (everything) and
workspace admins (their workspaces), as a page, a CSV and an API; trimmed by retention."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.test import Client
from django.utils import timezone

from portal import audit, services
from portal.models import AuditRecord, AuditSeal, TokenScope
from portal.tasks import audit_purge, audit_seal
from tests.conftest import PASSWORD
from tests.helpers import submit_job

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = "type: command\ncommand: echo hi\nenvironment:\n  image: python:3.11-slim\ncompute: azureml:cpu-target\n"


def latest(**filters) -> AuditRecord:
    found = AuditRecord.objects.filter(**filters).order_by("-pk").first()
    assert found is not None, (
        filters,
        list(AuditRecord.objects.values_list("action", "object_type")),
    )
    return found


def test_writes_through_every_door_are_recorded(client_for, personas, sim_kubeconfig, team_a):
    # the studio (a session)
    admin = client_for("admin")
    assert (
        admin.post(
            "/workspaces/team-a/members", {"username": "outsider", "role": "reader"}
        ).status_code
        == 302
    )
    member = latest(object_type="membership")
    assert (member.action, member.actor_name, member.via) == ("create", "admin", "session")
    assert member.workspace_slug == "team-a" and member.object_name == "outsider"
    assert "role=reader" in member.summary and member.address == "127.0.0.1"

    # the API with a token, and the CLI (a token sent by kp)
    token, raw = services.token_create(user=personas["admin"], name="ci")
    made = latest(object_type="token", action="create")
    assert raw not in made.summary and raw[:10] in made.summary  # the prefix, never the secret
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    api.post(
        "/api/v1/workspaces/team-a/members/",
        {"username": "outsider", "role": "data_scientist"},
        content_type="application/json",
    )
    changed = latest(object_type="membership")
    assert (changed.action, changed.via, changed.token_prefix) == ("update", "token", token.prefix)
    assert "(was reader)" in changed.summary
    cli = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_USER_AGENT="kp/0.1")
    assert cli.delete(f"/api/v1/workspaces/team-a/members/{changed.object_id}/").status_code == 204
    assert latest(object_type="membership").via == "cli"

    # the admin (its model pages ask for model permissions)
    personas["itops"].is_superuser = True
    personas["itops"].save()
    itops = client_for("itops")
    change = itops.post(
        f"/admin/portal/workspace/{team_a.pk}/change/",
        {
            "name": "Team A renamed",
            "slug": "team-a",
            "description": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert change.status_code == 302, change.content[:500]
    edited = latest(via="admin")
    assert (edited.action, edited.object_type, edited.object_name) == (
        "update",
        "workspace",
        "Team A renamed",
    )
    assert "changed" in edited.summary and "Name" in edited.summary

    # a cluster attached through the API: its credentials appear nowhere
    attached = itops.post(
        "/api/v1/clusters/",
        {"name": "recorded", "kubeconfig": sim_kubeconfig},
        content_type="application/json",
    )
    assert attached.status_code == 202
    cluster = latest(object_type="cluster", action="attach")
    assert cluster.object_name == "recorded" and cluster.actor_name == "itops"
    everything = json.dumps(list(AuditRecord.objects.values()), default=str)
    assert "token:" not in everything and "BEGIN" not in everything and raw not in everything

    # sign-ins
    login = Client(REMOTE_ADDR="10.1.2.3").post(
        "/login/", {"username": "reader", "password": PASSWORD}
    )
    assert login.status_code == 302
    signed_in = latest(action="login")
    assert (signed_in.actor_name, signed_in.via, signed_in.address) == (
        "reader",
        "session",
        "10.1.2.3",
    )


def test_jobs_and_the_background_work_done_for_them(compute_ready, client_for):
    job = submit_job(client_for("scientist"), HELLO, "audited")
    submitted = latest(object_type="job", action="submit")
    assert submitted.object_id == str(job.pk) and submitted.object_name == "audited"
    assert submitted.actor_name == "scientist" and submitted.workspace_slug == "team-a"
    assert "compute=cpu-target" in submitted.summary
    started = latest(object_type="job", action="start")  # the start task, for the submitter
    assert (started.via, started.actor_name) == ("background", "scientist")
    client_for("scientist").post(f"/api/v1/workspaces/team-a/jobs/{job.name}/cancel/")
    assert latest(object_type="job", action="cancel").actor_name == "scientist"


def test_mlflow_lifecycle_writes_are_recorded(personas):
    _t, raw = services.token_create(user=personas["scientist"], name="mlflow")
    made = Client().post(
        "/mlflow/team-a/api/2.0/mlflow/experiments/create",
        json.dumps({"name": "digits"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert made.status_code == 200
    record = latest(object_type="experiment")
    assert (record.action, record.object_name, record.actor_name) == (
        "create",
        "digits",
        "scientist",
    )
    assert record.object_id == made.json()["experiment_id"]


def test_a_write_that_rolls_back_leaves_no_record(client_for, personas):
    scientist = client_for("scientist")
    before = AuditRecord.objects.count()
    bad = scientist.post("/api/v1/tokens/", {"name": "x", "expires_in_days": 100000})
    assert bad.status_code == 400
    assert AuditRecord.objects.count() == before


def test_seals_chain_and_show_tampering(personas):
    for n in range(5):
        services.token_create(user=personas["reader"], name=f"t{n}")
    first = audit.seal_pending(settle_seconds=0)
    assert first is not None and first.count == 5 and first.previous_digest == audit.GENESIS
    services.token_create(user=personas["reader"], name="later")
    assert audit.seal_pending() is None  # too fresh: a transaction may still be open
    AuditRecord.objects.filter(seal__isnull=True).update(at=timezone.now() - timedelta(minutes=1))
    audit_seal()  # the periodic task
    second = AuditSeal.objects.order_by("pk").last()
    assert second.pk != first.pk and second.previous_digest == first.digest
    assert not AuditRecord.objects.filter(seal__isnull=True).exists()
    assert audit.verify() == []
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "intact" in out.getvalue()

    victim = AuditRecord.objects.filter(seal=first).order_by("pk")[1]
    AuditRecord.objects.filter(pk=victim.pk).update(summary="nothing to see")
    problems = audit.verify()
    assert problems and f"seal {first.pk}" in problems[0]
    with pytest.raises(CommandError):
        call_command("audit_verify", stdout=io.StringIO(), stderr=io.StringIO())

    AuditRecord.objects.filter(pk=victim.pk).delete()
    assert any("records, sealed with" in p for p in audit.verify())


def test_a_second_sealer_cannot_fork_the_chain(personas):
    services.token_create(user=personas["reader"], name="a")
    first = audit.seal_pending(settle_seconds=0)
    assert first is not None
    services.token_create(user=personas["reader"], name="b")
    # a sealer that read the same last seal: its seal would have the same previous digest
    rows = list(AuditRecord.objects.filter(seal__isnull=True))
    with pytest.raises(IntegrityError):
        AuditSeal.objects.create(
            count=len(rows),
            last_record_at=timezone.now(),
            previous_digest=first.previous_digest,
            digest=audit.chain_digest(first.previous_digest, rows),
        )


def test_retention_removes_whole_old_seals(personas, settings):
    services.token_create(user=personas["reader"], name="old")
    old = audit.seal_pending(settle_seconds=0)
    AuditSeal.objects.filter(pk=old.pk).update(last_record_at=timezone.now() - timedelta(days=10))
    services.token_create(user=personas["reader"], name="new")
    kept = audit.seal_pending(settle_seconds=0)
    settings.AUDIT_RETENTION_DAYS = 5
    audit_purge()
    assert list(AuditSeal.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not AuditRecord.objects.filter(object_name="old").exists()
    assert AuditRecord.objects.filter(object_name="new").exists()
    assert audit.verify() == []  # the oldest remaining seal anchors the chain


def test_who_reads_what(client_for, personas, team_b):
    services.membership_set(workspace=team_b, user=personas["reader"], role="reader")
    services.token_create(user=personas["reader"], name="global")  # no workspace
    itops = client_for("itops").get("/api/v1/audit/").json()
    assert {r["workspace"] for r in itops["results"]} >= {"team-b", ""}
    admin = client_for("admin").get("/api/v1/audit/")
    assert admin.status_code == 200
    assert {r["workspace"] for r in admin.json()["results"]} <= {"team-a"}
    for persona in ("scientist", "reader", "outsider"):
        assert client_for(persona).get("/api/v1/audit/").status_code == 403
        assert client_for(persona).get("/audit/").status_code == 403
        assert client_for(persona).get("/audit/export.csv").status_code == 403
    page = client_for("admin").get("/audit/").content.decode()
    assert "team-b" not in page


def test_filters_paging_and_newest_first(client_for, personas):
    for n in range(3):
        services.token_create(user=personas["reader"], name=f"n{n}")
    itops = client_for("itops")
    body = itops.get("/api/v1/audit/", {"object_type": "token", "limit": 2}).json()
    assert body["count"] == 3 and [r["object_name"] for r in body["results"]] == ["n2", "n1"]
    assert itops.get("/api/v1/audit/", {"q": "n0"}).json()["count"] == 1
    assert itops.get("/api/v1/audit/", {"since": "2999-01-01"}).json()["count"] == 0
    assert itops.get("/api/v1/audit/", {"until": "2000-01-01"}).json()["count"] == 0
    bad = itops.get("/api/v1/audit/", {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["errors"]
    assert itops.get("/audit/", {"since": "yesterday"}).status_code == 400
    page = itops.get("/audit/", {"action": "create", "object_type": "token"}).content.decode()
    assert page.count("data-audit=") == 3


def test_csv_export_with_filters_and_no_formulas(client_for, personas):
    services.token_create(user=personas["reader"], name="=HYPERLINK(1)")
    services.token_create(user=personas["reader"], name="plain", scope=TokenScope.READ)
    response = client_for("itops").get("/audit/export.csv", {"object_type": "token"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["at", "actor_name", "via"]
    names = [row[9] for row in rows[1:]]
    assert names == ["plain", "'=HYPERLINK(1)"]
