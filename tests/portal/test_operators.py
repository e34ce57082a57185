"""The first IT-operations login of a new portal, and demo logins kept out of production."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from portal.models import User

pytestmark = pytest.mark.django_db

STRONG = "a-long-operator-passphrase-77"


def can_operate(username: str, password: str) -> bool:
    client = Client()
    signed_in = client.post("/login/", {"username": username, "password": password})
    assert signed_in.status_code == 302, signed_in.content
    return all(client.get(path).status_code == 200 for path in ("/clusters/", "/admin/"))


def test_create_itops_without_input_takes_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORTAL_ITOPS_PASSWORD", STRONG)
    call_command("create_itops", "--username", "ops", "--email", "ops@example.org", "--noinput")
    user = User.objects.get(username="ops")
    assert user.is_itops and user.is_staff and user.is_superuser and user.email
    assert can_operate("ops", STRONG)


def test_create_itops_refuses_a_missing_or_weak_password(monkeypatch):
    monkeypatch.delenv("PORTAL_ITOPS_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="PORTAL_ITOPS_PASSWORD"):
        call_command("create_itops", "--username", "ops", "--noinput")
    monkeypatch.setenv("PORTAL_ITOPS_PASSWORD", "password")
    with pytest.raises(CommandError, match="refused"):
        call_command("create_itops", "--username", "ops", "--noinput")
    assert not User.objects.filter(username="ops").exists()


def test_create_itops_promotes_an_existing_user_and_keeps_their_password(monkeypatch):
    User.objects.create_user(username="carol", password=STRONG)
    monkeypatch.delenv("PORTAL_ITOPS_PASSWORD", raising=False)
    call_command("create_itops", "--username", "carol", "--noinput")
    assert User.objects.get(username="carol").is_itops
    assert can_operate("carol", STRONG)


def test_create_itops_asks_twice_interactively(monkeypatch):
    answers = iter([STRONG, "something else"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    with pytest.raises(CommandError, match="differ"):
        call_command("create_itops", "--username", "ops")
    answers = iter([STRONG, STRONG])
    call_command("create_itops", "--username", "ops")
    assert can_operate("ops", STRONG)


def test_a_superuser_is_it_operations(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", STRONG)
    call_command("createsuperuser", "--username", "root", "--email", "r@example.org", "--noinput")
    assert User.objects.get(username="root").is_itops
    assert can_operate("root", STRONG)


def test_seed_demo_refuses_production_unless_forced(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_demo")
    assert not User.objects.filter(username="itops").exists()
    call_command("seed_demo", "--force")
    assert User.objects.get(username="itops").is_itops
