"""Personal tokens: expiry (default and maximum), scopes (a read-only token is refused every
write, the MLflow API's included), last use shown, and IT operations' view of everyone's."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from portal import services
from portal.models import ApiToken, TokenScope

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_a_new_token_expires_after_the_default_and_never_past_the_maximum(client_for, settings):
    settings.TOKEN_DAYS, settings.TOKEN_MAX_DAYS = 30, 60
    scientist = client_for("scientist")
    made = scientist.post("/api/v1/tokens/", {"name": "ci"})
    assert made.status_code == 201
    body = made.json()
    assert body["scope"] == "full" and body["state"] == "active"  # no scope: full
    token = ApiToken.objects.get(pk=body["id"])
    assert abs((token.expires_at - timezone.now()) - timedelta(days=30)) < timedelta(minutes=1)

    longer = scientist.post("/api/v1/tokens/", {"name": "ci", "expires_in_days": 45})
    assert longer.status_code == 201
    too_long = scientist.post("/api/v1/tokens/", {"name": "ci", "expires_in_days": 61})
    assert too_long.status_code == 400 and "expires_in_days" in too_long.json()["errors"]
    assert "60" in too_long.json()["errors"]["expires_in_days"][0]
    bad_scope = scientist.post("/api/v1/tokens/", {"name": "ci", "scope": "admin"})
    assert bad_scope.status_code == 400 and "scope" in bad_scope.json()["errors"]

    page = scientist.post(
        "/account/tokens/new", {"name": "x", "scope": "full", "expires_in_days": 61}
    )
    assert (
        page.status_code == 400
        and "Ensure this value is less than or equal to 60" in page.content.decode()
    )


def test_an_expired_token_no_longer_signs_in(personas):
    token, raw = services.token_create(user=personas["scientist"], name="old")
    assert bearer(raw).get("/api/v1/me/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = bearer(raw).get("/api/v1/me/")
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]
    assert not ApiToken.objects.active().filter(pk=token.pk).exists()


def test_a_read_only_token_reads_and_is_refused_every_write(personas):
    _token, raw = services.token_create(
        user=personas["admin"], name="dashboard", scope=TokenScope.READ
    )
    client = bearer(raw)
    assert client.get("/api/v1/me/").status_code == 200
    assert client.get("/api/v1/workspaces/team-a/members/").status_code == 200
    writes = [
        ("post", "/api/v1/workspaces/team-a/members/", {"username": "outsider", "role": "reader"}),
        ("delete", "/api/v1/workspaces/team-a/members/1/", None),
        ("post", "/api/v1/tokens/", {"name": "escalate"}),
        ("post", "/api/v1/workspaces/team-a/jobs/", {"yaml": "type: command"}),
        ("post", "/api/v1/workspaces/team-a/environments/", {"name": "e"}),
    ]
    for method, url, data in writes:
        response = getattr(client, method)(url, data, content_type="application/json")
        assert response.status_code == 403, (url, response.status_code)
        assert "read-only" in response.json()["detail"]
    assert not ApiToken.objects.filter(name="escalate").exists()
    # the same user's full token may
    _token, full = services.token_create(user=personas["admin"], name="full")
    added = bearer(full).post(
        "/api/v1/workspaces/team-a/members/", {"username": "outsider", "role": "reader"}
    )
    assert added.status_code == 201


def test_a_read_only_token_reads_runs_but_logs_nothing(personas):
    base = "/mlflow/team-a/api/2.0/mlflow/"
    _t, read = services.token_create(user=personas["scientist"], name="r", scope=TokenScope.READ)
    _t, full = services.token_create(user=personas["scientist"], name="f")

    def post(raw, path, body):
        return Client().post(
            base + path,
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )

    made = post(full, "experiments/create", {"name": "e"})
    assert made.status_code == 200
    experiment = made.json()["experiment_id"]
    found = post(read, "experiments/search", {"max_results": 10})
    assert found.status_code == 200 and found.json()["experiments"]
    refused = post(read, "runs/create", {"experiment_id": experiment})
    assert refused.status_code == 403
    assert refused.json()["error_code"] == "PERMISSION_DENIED"
    assert "read-only" in refused.json()["message"]


def test_last_use_is_shown(client_for, personas):
    token, raw = services.token_create(user=personas["reader"], name="laptop")
    page = client_for("reader").get("/account/tokens/").content.decode()
    assert "never" in page
    bearer(raw).get("/api/v1/me/")
    token.refresh_from_db()
    assert token.last_used_at is not None
    page = client_for("reader").get("/account/tokens/").content.decode()
    assert token.last_used_at.strftime("%Y-%m-%d %H:%M") in page
    assert "<td>Full</td>" in page


def test_it_operations_list_and_revoke_anyones_tokens(client_for, personas):
    token, raw = services.token_create(user=personas["scientist"], name="ci")
    services.token_create(user=personas["reader"], name="other")
    itops = client_for("itops")
    listed = itops.get("/api/v1/user-tokens/", {"user": "scientist"})
    assert listed.status_code == 200
    rows = listed.json()["results"]
    assert [(r["username"], r["name"]) for r in rows] == [("scientist", "ci")]
    assert "token" not in rows[0] and "key_hash" not in rows[0]
    assert itops.get("/api/v1/user-tokens/", {"state": "nope"}).status_code == 400
    assert client_for("scientist").get("/api/v1/user-tokens/").status_code == 403
    assert (
        client_for("scientist").post(f"/api/v1/user-tokens/{token.pk}/revoke/").status_code == 403
    )

    revoked = itops.post(f"/api/v1/user-tokens/{token.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert bearer(raw).get("/api/v1/me/").status_code == 401

    other = ApiToken.objects.get(name="other")
    page = itops.get("/user-tokens/", {"state": "active"}).content.decode()
    assert "reader" in page and f'data-token="{token.pk}"' not in page
    assert itops.post(f"/user-tokens/{other.pk}/revoke").status_code == 302
    other.refresh_from_db()
    assert other.revoked_at is not None
    assert client_for("admin").get("/user-tokens/").status_code == 403
