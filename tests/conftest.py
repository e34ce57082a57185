"""Personas and shared fixtures.

Personas: ``itops`` (IT operations), and in workspace ``team-a`` an ``admin``, a
``scientist`` (data scientist) and a ``reader``; ``outsider`` is a data scientist
in ``team-b`` only. Every access test is written around them.
"""

import pytest
from django.test import Client

from portal.models import Membership, Role, User, Workspace

PASSWORD = "test-password-123"


@pytest.fixture(autouse=True)
def _tasks_run_on_commit(settings):
    # Tasks run in the committing thread so tests are deterministic; the thread
    # pool itself is covered by tests/portal/test_background.py.
    settings.TASKS_MODE = "immediate"


def make_user(username: str, *, itops: bool = False) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if itops:
        user.is_itops = user.is_staff = True
        user.save()
    return user


@pytest.fixture
def team_a(db) -> Workspace:
    return Workspace.objects.create(slug="team-a", name="Team A")


@pytest.fixture
def team_b(db) -> Workspace:
    return Workspace.objects.create(slug="team-b", name="Team B")


@pytest.fixture
def personas(team_a, team_b) -> dict[str, User]:
    users = {
        "itops": make_user("itops", itops=True),
        "admin": make_user("admin"),
        "scientist": make_user("scientist"),
        "reader": make_user("reader"),
        "outsider": make_user("outsider"),
    }
    Membership.objects.create(workspace=team_a, user=users["admin"], role=Role.ADMIN)
    Membership.objects.create(workspace=team_a, user=users["scientist"], role=Role.DATA_SCIENTIST)
    Membership.objects.create(workspace=team_a, user=users["reader"], role=Role.READER)
    Membership.objects.create(workspace=team_b, user=users["outsider"], role=Role.DATA_SCIENTIST)
    return users


@pytest.fixture
def client_for(personas):
    """Returns a function giving a logged-in test client for a persona name (or 'anonymous')."""

    def make(name: str) -> Client:
        client = Client()
        if name != "anonymous":
            client.force_login(personas[name])
        return client

    return make
