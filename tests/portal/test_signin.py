"""Brute-force and flood protection: a username is locked from one address after repeated
wrong passwords (the pair, not the address), an address that keeps failing is refused, made-up
bearer tokens are throttled per address, and valid callers are never held back by default."""

import itertools
import time

import pytest
from django.test import Client

from portal import services, throttle
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

_addresses = itertools.count(1)


def client_at() -> Client:
    """A client with an address of its own (counters are per address, and shared by the
    processes of a test run through the cache)."""
    n = next(_addresses)
    return Client(REMOTE_ADDR=f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}")


def login(client: Client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def test_ten_wrong_passwords_lock_that_username_from_that_address(personas, settings):
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 10
    attacker = client_at()
    for _ in range(9):
        assert login(attacker, "scientist", "wrong-password").status_code == 200
    assert login(attacker, "scientist", "wrong-password").status_code == 429  # the tenth
    locked = login(attacker, "scientist", PASSWORD)
    assert locked.status_code == 429
    assert "Too many wrong passwords for this username" in locked.content.decode()
    assert "_auth_user_id" not in attacker.session
    # Another person behind the same address still signs in, and so does the same person
    # from another address.
    assert login(attacker, "reader", PASSWORD).status_code == 302
    assert login(client_at(), "scientist", PASSWORD).status_code == 302


def test_a_right_password_before_the_limit_resets_the_count(personas):
    client = client_at()
    for _ in range(9):
        login(client, "scientist", "wrong-password")
    assert login(client, "scientist", PASSWORD).status_code == 302
    other = Client(REMOTE_ADDR=client.defaults["REMOTE_ADDR"])
    for _ in range(9):
        assert login(other, "scientist", "wrong-password").status_code == 200
    assert login(other, "scientist", PASSWORD).status_code == 302


def test_an_address_spraying_usernames_is_refused(personas, settings):
    settings.AUTH_FAILURES_PER_ADDRESS = 20
    sprayer = client_at()
    for n in range(20):
        assert login(sprayer, f"made-up-{n}", "guess").status_code == 200
    refused = login(sprayer, "scientist", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins from your address" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert login(client_at(), "scientist", PASSWORD).status_code == 302


def test_made_up_bearer_tokens_are_throttled_per_address(personas, settings):
    settings.AUTH_FAILURES_PER_ADDRESS = 50
    _token, raw = services.token_create(user=personas["scientist"], name="ci")
    prober = client_at()
    for n in range(50):
        answer = prober.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer kp_made-up-{n}")
        assert answer.status_code == 401, answer.content
    throttled = prober.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer kp_one-more")
    assert throttled.status_code == 429
    assert "Too many failed sign-ins from your address" in throttled.json()["detail"]
    assert int(throttled["Retry-After"]) > 0
    # A valid token cannot be guessed, so it still works from there.
    assert prober.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    elsewhere = client_at().get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer kp_typo")
    assert elsewhere.status_code == 401


def test_valid_tokens_are_not_throttled_by_default(personas):
    _token, raw = services.token_create(user=personas["scientist"], name="poller")
    client = client_at()
    for _ in range(300):  # a status poller, or a tracking client logging metric by metric
        assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_the_call_rate_is_configurable(personas, settings, monkeypatch):
    settings.API_CALLS_PER_MINUTE = 5
    now = time.time()
    monkeypatch.setattr(throttle.time, "time", lambda: now)  # one minute's window throughout
    _token, raw = services.token_create(user=personas["scientist"], name="fast")
    client = client_at()
    answers = [client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}") for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert "More than 5 API calls in a minute" in answers[-1].json()["detail"]
    assert int(answers[-1]["Retry-After"]) > 0
