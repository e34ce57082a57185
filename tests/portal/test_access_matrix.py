"""Allow/deny matrix for every page and endpoint of the portal app."""

import pytest
from django.test import Client

from portal import services
from portal.models import ApiToken, Membership, Workspace

PERSONAS = ["anonymous", "itops", "admin", "scientist", "reader", "outsider"]

# (method, url, expected status per persona)
PAGES = [
    # Probes answer everyone alike; /metrics needs its token, not a sign-in (unset: 404).
    ("get", "/healthz", dict.fromkeys(PERSONAS, 200)),
    ("get", "/readyz", dict.fromkeys(PERSONAS, 200)),
    ("get", "/metrics", dict.fromkeys(PERSONAS, 404)),
    ("get", "/favicon.ico", dict.fromkeys(PERSONAS, 301)),
    ("post", "/readyz", dict.fromkeys(PERSONAS, 404)),  # GET and HEAD only
    (
        "get",
        "/",
        dict(anonymous=302, itops=200, admin=200, scientist=200, reader=200, outsider=200),
    ),
    (
        "get",
        "/workspaces/",
        dict(anonymous=302, itops=200, admin=200, scientist=200, reader=200, outsider=200),
    ),
    (
        "get",
        "/workspaces/team-a/",
        dict(anonymous=302, itops=200, admin=200, scientist=200, reader=200, outsider=404),
    ),
    (
        "get",
        "/workspaces/nope/",
        dict(anonymous=302, itops=404, admin=404, scientist=404, reader=404, outsider=404),
    ),
    (
        "post",
        "/workspaces/team-a/members",
        dict(anonymous=302, itops=302, admin=302, scientist=403, reader=403, outsider=404),
    ),
    (
        "post",
        "/workspaces/new",
        dict(anonymous=302, itops=302, admin=403, scientist=403, reader=403, outsider=403),
    ),
    (
        "get",
        "/account/tokens/",
        dict(anonymous=302, itops=200, admin=200, scientist=200, reader=200, outsider=200),
    ),
    (
        "get",
        "/admin/",
        dict(anonymous=302, itops=200, admin=302, scientist=302, reader=302, outsider=302),
    ),
    (
        "get",
        "/user-tokens/",
        dict(anonymous=302, itops=200, admin=403, scientist=403, reader=403, outsider=403),
    ),
    (
        "get",
        "/audit/",
        dict(anonymous=302, itops=200, admin=200, scientist=403, reader=403, outsider=403),
    ),
    (
        "get",
        "/audit/export.csv",
        dict(anonymous=302, itops=200, admin=200, scientist=403, reader=403, outsider=403),
    ),
    (
        "get",
        "/api/v1/audit/",
        dict(anonymous=401, itops=200, admin=200, scientist=403, reader=403, outsider=403),
    ),
    (
        "get",
        "/api/v1/user-tokens/",
        dict(anonymous=401, itops=200, admin=403, scientist=403, reader=403, outsider=403),
    ),
    (
        "get",
        "/api/v1/me/",
        dict(anonymous=401, itops=200, admin=200, scientist=200, reader=200, outsider=200),
    ),
    (
        "get",
        "/api/v1/workspaces/team-a/",
        dict(anonymous=401, itops=200, admin=200, scientist=200, reader=200, outsider=404),
    ),
    (
        "get",
        "/api/v1/workspaces/team-a/members/",
        dict(anonymous=401, itops=200, admin=200, scientist=200, reader=200, outsider=404),
    ),
    (
        "post",
        "/api/v1/workspaces/team-a/members/",
        dict(anonymous=401, itops=201, admin=201, scientist=403, reader=403, outsider=404),
    ),
    (
        "post",
        "/api/v1/workspaces/",
        dict(anonymous=401, itops=201, admin=403, scientist=403, reader=403, outsider=403),
    ),
    (
        "get",
        "/api/v1/schema/",
        dict(anonymous=401, itops=200, admin=200, scientist=200, reader=200, outsider=200),
    ),
]

FORM_DATA = {
    "/workspaces/team-a/members": {"username": "outsider", "role": "reader"},
    "/workspaces/new": {"name": "Team C", "slug": "team-c"},
    "/api/v1/workspaces/team-a/members/": {"username": "outsider", "role": "reader"},
    "/api/v1/workspaces/": {"name": "Team C", "slug": "team-c"},
}


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("method,url,expected", PAGES, ids=[f"{m} {u}" for m, u, _ in PAGES])
def test_access_matrix(client_for, persona, method, url, expected):
    client = client_for(persona)
    if method == "get":
        response = client.get(url)
    else:
        response = client.post(url, FORM_DATA.get(url, {}))
    assert response.status_code == expected[persona], response.content[:300]


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["read", "full"])
@pytest.mark.parametrize("persona", PERSONAS[1:])
def test_token_scopes_over_the_api_matrix(personas, persona, scope):
    """A full token has its user's rights on every API row; a read-only one the same on
    reads and 403 on every write, whatever the role."""
    _token, raw = services.token_create(user=personas[persona], name="m", scope=scope)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for method, url, expected in PAGES:
        if not url.startswith("/api/"):
            continue
        if method == "get":
            assert client.get(url).status_code == expected[persona], url
            continue
        response = client.post(url, FORM_DATA.get(url, {}), content_type="application/json")
        want = 403 if scope == "read" else expected[persona]
        assert response.status_code == want, (url, response.content[:200])
        if response.status_code == 201:  # undo, so the next row starts from the same state
            Workspace.objects.filter(slug="team-c").delete()
            Membership.objects.filter(user=personas["outsider"], workspace__slug="team-a").delete()


@pytest.mark.django_db
def test_outsider_cannot_see_other_workspace_in_lists(client_for):
    body = client_for("outsider").get("/api/v1/workspaces/").json()
    assert [w["slug"] for w in body["results"]] == ["team-b"]
    itops = client_for("itops").get("/api/v1/workspaces/").json()
    assert {w["slug"] for w in itops["results"]} == {"team-a", "team-b"}


@pytest.mark.django_db
def test_reader_write_attempt_is_refused_with_a_reason(client_for):
    response = client_for("reader").post(
        "/api/v1/workspaces/team-a/members/", {"username": "outsider", "role": "admin"}
    )
    assert response.status_code == 403
    assert "role" in response.json()["detail"].lower()


@pytest.mark.django_db
def test_unknown_user_and_role_name_the_field(client_for):
    response = client_for("admin").post(
        "/api/v1/workspaces/team-a/members/", {"username": "ghost", "role": "boss"}
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"username", "role"}


@pytest.mark.django_db
def test_csrf_is_enforced_for_session_posts(personas):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["admin"])
    response = client.post("/workspaces/team-a/members", {"username": "outsider", "role": "reader"})
    assert response.status_code == 403
    assert b"security token" in response.content


@pytest.mark.django_db
def test_token_api_flow(client_for, personas):
    from django.test import Client

    created = client_for("scientist").post("/api/v1/tokens/", {"name": "laptop"})
    assert created.status_code == 201
    raw = created.json()["token"]
    assert raw.startswith("kp_")
    assert not ApiToken.objects.filter(key_hash=raw).exists()  # only the hash is stored

    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    me = bearer.get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["username"] == "scientist"
    # A token gives the same rights as its owner: no member changes in team-a.
    assert (
        bearer.post(
            "/api/v1/workspaces/team-a/members/", {"username": "reader", "role": "admin"}
        ).status_code
        == 403
    )

    revoked = client_for("scientist").post(f"/api/v1/tokens/{created.json()['id']}/revoke/")
    assert revoked.status_code == 200
    denied = bearer.get("/api/v1/me/")
    assert denied.status_code == 401
    assert "revoked" in denied.json()["detail"]
    # Another user cannot revoke someone else's token.
    other = client_for("reader").post(f"/api/v1/tokens/{created.json()['id']}/revoke/")
    assert other.status_code == 404


@pytest.mark.django_db
def test_switching_workspaces(client_for, personas, team_a, team_b):
    from portal.models import Membership, Role

    Membership.objects.create(workspace=team_b, user=personas["scientist"], role=Role.READER)
    client = client_for("scientist")
    assert "Team A" in client.get("/").content.decode()
    response = client.post("/workspaces/switch", {"workspace": team_b.pk, "next": "/"})
    assert response.status_code == 302
    home = client.get("/").content.decode()
    assert "Workspace Team B" in home and "Reader" in home
    # A workspace the user does not belong to cannot be switched to.
    client_for("outsider").post("/workspaces/switch", {"workspace": team_a.pk})
    assert "Workspace Team B" in client_for("outsider").get("/").content.decode()


@pytest.mark.django_db
def test_tokens_in_the_studio(client_for):
    client = client_for("reader")
    created = client.post("/account/tokens/new", {"name": "laptop"})
    assert created.status_code == 201
    page = created.content.decode()
    assert 'data-testid="new-token"' in page and "kp_" in page
    token = ApiToken.objects.get(name="laptop")
    assert client.get("/account/tokens/").content.decode().count("kp_") == 1  # only the prefix now
    assert client.post(f"/account/tokens/{token.pk}/revoke").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.post("/account/tokens/new", {"name": ""}).status_code == 400
