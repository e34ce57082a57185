"""Single sign-on end to end against a real OpenID Connect provider (django-oauth-toolkit in
a second process, tests/oidc_provider/): users created at the first sign-in, the group claim
mapped to IT operations and workspace roles and applied again at every sign-in, local
accounts switchable off."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from portal.models import AuditRecord, Membership, Role, User
from tests.conftest import PASSWORD
from tests.portal.test_access_matrix import PAGES

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "portal-client", "portal-secret-for-tests-0123456789"
CALLBACK = "http://testserver/oidc/callback/"
GROUP_MAP = "kp-operators=itops,ml-a=team-a:data_scientist,leads-a=team-a:admin,ml-b=team-b:reader"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    """The provider's base URL; it runs as its own Django process on its own database."""
    folder = tmp_path_factory.mktemp("oidc-provider")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "DATABASE_URL"))},
        "DJANGO_SETTINGS_MODULE": "tests.oidc_provider.settings",
        "OIDC_PROVIDER_DB": str(folder / "provider.sqlite3"),
        "OIDC_PROVIDER_KEY": pem,
        "OIDC_PROVIDER_CLIENT": f"{CLIENT_ID}|{CLIENT_SECRET}|{CALLBACK}",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [sys.executable, "-m", "tests.oidc_provider.setup"], env=env, cwd=ROOT, check=True
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{base}/o/.well-known/openid-configuration", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise AssertionError("the OIDC provider did not start")
        time.sleep(0.1)
    yield base
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def sso(provider, settings):
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider}/o/authorize/"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider}/o/token/"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider}/o/userinfo/"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{provider}/o/.well-known/jwks.json"
    settings.OIDC_GROUP_MAP = GROUP_MAP
    settings.SSO_ENABLED = True
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "portal.sso.PortalOIDCBackend",
    ]
    return provider


def set_groups(provider: str, username: str, groups: list[str]) -> None:
    requests.post(
        f"{provider}/test/groups/", json={"username": username, "groups": groups}, timeout=5
    ).raise_for_status()


def sign_in(provider: str, browser: requests.Session, username: str) -> Client:
    """Runs the authorization-code flow: the portal (Django's test client) sends the browser
    to the provider, it signs in there, and comes back with a code the portal exchanges
    over HTTP. Returns the portal client, signed in."""
    portal = Client()
    start = portal.get("/oidc/authenticate/")
    assert start.status_code == 302 and start["Location"].startswith(provider)
    step = browser.get(start["Location"], allow_redirects=False)
    if step.status_code == 302 and "/login/" in step.headers["Location"]:
        login_url = provider + step.headers["Location"]
        nxt = parse_qs(urlsplit(login_url).query)["next"][0]
        step = browser.post(
            login_url,
            data={"username": username, "password": "provider-pass-123", "next": nxt},
            allow_redirects=False,
        )
        step = browser.get(provider + step.headers["Location"], allow_redirects=False)
    back = step.headers["Location"]
    assert back.startswith(CALLBACK), (step.status_code, back)
    done = portal.get(back.removeprefix("http://testserver"))
    assert done.status_code == 302 and "sso=failed" not in done["Location"], done["Location"]
    return portal


def test_first_sign_in_creates_the_user_with_mapped_roles(sso, personas):
    set_groups(sso, "carol", ["ml-a", "ml-b", "unrelated"])
    portal = sign_in(sso, requests.Session(), "carol")
    me = portal.get("/api/v1/me/").json()
    assert me["username"] == "carol"
    user = User.objects.get(username="carol")
    assert user.oidc_subject and not user.has_usable_password() and not user.is_itops
    roles = dict(Membership.objects.filter(user=user).values_list("workspace__slug", "role"))
    assert roles == {"team-a": Role.DATA_SCIENTIST, "team-b": Role.READER}
    login = AuditRecord.objects.filter(action="login", actor=user).get()
    assert login.via == "sso"
    assert AuditRecord.objects.filter(
        action="create", object_type="user", object_name="carol"
    ).exists()
    # what an SSO data scientist may do is what any data scientist may
    assert portal.get("/jobs/team-a/new").status_code == 200
    assert portal.get("/clusters/").status_code == 403
    assert portal.get("/audit/").status_code == 403


def test_a_group_change_takes_effect_at_the_next_sign_in(sso, personas):
    browser = requests.Session()
    set_groups(sso, "olga", ["ml-a"])
    sign_in(sso, browser, "olga")
    olga = User.objects.get(username="olga")
    assert Membership.objects.get(user=olga, workspace__slug="team-a").role == Role.DATA_SCIENTIST

    set_groups(sso, "olga", ["leads-a", "kp-operators"])
    portal = sign_in(sso, browser, "olga")  # still signed in at the provider: straight back
    olga.refresh_from_db()
    assert olga.is_itops and olga.is_staff
    assert Membership.objects.get(user=olga, workspace__slug="team-a").role == Role.ADMIN
    assert User.objects.filter(username__startswith="olga").count() == 1  # found by sub
    assert portal.get("/clusters/").status_code == 200
    assert portal.get("/audit/").status_code == 200

    set_groups(sso, "olga", [])
    portal = sign_in(sso, browser, "olga")
    olga.refresh_from_db()
    assert not olga.is_itops
    assert not Membership.objects.filter(user=olga).exists()
    assert portal.get("/clusters/").status_code == 403
    assert portal.get("/workspaces/team-a/").status_code == 404


def test_workspaces_the_map_does_not_name_are_left_alone(sso, personas, settings):
    settings.OIDC_GROUP_MAP = "ml-a=team-a:data_scientist"
    set_groups(sso, "carol", ["ml-a"])
    sign_in(sso, requests.Session(), "carol")
    carol = User.objects.get(username="carol")
    Membership.objects.create(
        workspace=personas["outsider"].memberships.get().workspace, user=carol, role=Role.READER
    )
    sign_in(sso, requests.Session(), "carol")
    assert set(Membership.objects.filter(user=carol).values_list("workspace__slug", flat=True)) == {
        "team-a",
        "team-b",
    }


def test_local_accounts_can_be_switched_off(sso, personas, settings):
    settings.LOCAL_ACCOUNTS = False
    settings.AUTHENTICATION_BACKENDS = ["portal.sso.PortalOIDCBackend"]
    page = Client().get("/login/").content.decode()
    assert 'data-testid="sso"' in page and 'name="password"' not in page
    refused = Client().post("/login/", {"username": "reader", "password": PASSWORD})
    assert refused.status_code == 403 and "single sign-on" in refused.content.decode()
    assert sign_in(sso, requests.Session(), "carol").get("/api/v1/me/").status_code == 200


def test_without_configuration_there_is_no_sso(client):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert 'data-testid="sso"' not in client.get("/login/").content.decode()


def test_an_sso_user_has_the_matrix_rights_of_their_mapped_role(sso, personas):
    """The allow/deny matrix holds for single sign-on users: mapped to data scientist in
    team-a, carol gets on every page and endpoint what the data scientist persona gets."""
    set_groups(sso, "carol", ["ml-a"])
    portal = sign_in(sso, requests.Session(), "carol")
    for method, url, expected in PAGES:
        if method == "get":
            assert portal.get(url).status_code == expected["scientist"], url
