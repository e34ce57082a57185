"""Database helpers of the hot paths: connections kept by worker threads, relaxed commits."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from portal.db import close_stale_connections, commit_without_waiting_for_disk, values_in

pytestmark = pytest.mark.django_db(transaction=True)


# Read from the settings: asking the connection for its pool before the test database exists
# would make a pool for the database the settings named first.
POOLED = bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))
pooled = pytest.mark.skipif(not POOLED, reason="PostgreSQL with a pool (the production run)")
unpooled = pytest.mark.skipif(POOLED, reason="without a pool (the embedded run)")


@unpooled
def test_a_worker_thread_keeps_its_connection_until_it_is_old_or_broken(monkeypatch):
    closed = []
    monkeypatch.setattr(connection, "close", lambda: closed.append(True))
    get_user_model().objects.count()
    raw = connection.connection
    close_stale_connections()
    assert not closed  # close_old_connections() would close it (CONN_MAX_AGE 0)

    connection._portal_born = (raw, time.monotonic() - 301)
    close_stale_connections(max_age=300)
    assert closed == [True]  # too old: the next query opens a fresh one

    closed.clear()
    connection._portal_born = None
    connection.errors_occurred = True  # an error, but the connection still answers: kept
    close_stale_connections()
    assert not closed and not connection.errors_occurred

    connection.errors_occurred = True
    monkeypatch.setattr(connection, "is_usable", lambda: False)
    close_stale_connections()
    assert closed == [True]


@pooled
def test_a_worker_thread_gives_a_pooled_connection_back_between_batches():
    pool = connection.pool
    get_user_model().objects.count()
    taken = pool.get_stats()["pool_size"] - pool.get_stats()["pool_available"]
    with transaction.atomic():
        get_user_model().objects.count()
        close_stale_connections()  # inside a transaction: kept
        assert connection.connection is not None
    close_stale_connections()
    assert connection.connection is None
    after = pool.get_stats()
    assert after["pool_size"] - after["pool_available"] == taken - 1  # back in the pool
    assert get_user_model().objects.count() >= 0  # the next query takes one again


def test_only_the_marked_transaction_commits_without_waiting_for_the_disk():
    postgres = connection.vendor == "postgresql"

    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        commit_without_waiting_for_disk()
        if postgres:
            assert setting() == "off"
    if postgres:
        assert setting() == "on"  # SET LOCAL: the next transaction waits again
    else:
        assert len(queries) == 0  # SQLite: nothing to relax


def test_a_forked_child_leaves_the_parents_connections_and_pool_alone():
    """A Celery prefork worker: its first query opens its own connection (and pool); the
    parent's session survives the child's exit."""
    import os

    User = get_user_model()
    User.objects.create(username="before-fork")
    parent_pid = connection.connection.info.backend_pid if POOLED else None
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code, never return into pytest
        code = 1
        try:
            pools = getattr(type(connection), "_connection_pools", {})
            if connection.connection is None and not pools:
                code = 2 if not User.objects.filter(username="before-fork").exists() else 0
                if POOLED and connection.connection.info.backend_pid == parent_pid:
                    code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert User.objects.filter(username="before-fork").exists()  # the parent's session lives
    if POOLED:
        assert connection.connection.info.backend_pid == parent_pid


def test_values_in_reads_plain_columns_of_the_chosen_rows_only(monkeypatch):
    User = get_user_model()
    users = [User.objects.create(username=f"v{i}", first_name=f"F{i}") for i in range(7)]
    wanted = [u.pk for u in users[:5]] + [987654]  # an id with no row is no error
    monkeypatch.setattr(connection.features, "max_query_params", 2)  # SQLite: 3 statements
    got = values_in(User, ("id", "username", "first_name"), "id", wanted)
    assert sorted(got) == [(u.pk, u.username, u.first_name) for u in users[:5]]
    assert values_in(User, ("id",), "id", []) == []
    with pytest.raises(ValueError, match="date_joined"):
        values_in(User, ("id", "date_joined"), "id", wanted)  # needs a converter on SQLite


@pooled
def test_a_websocket_that_joined_and_left_holds_no_pooled_connection(personas, team_a):
    import asyncio

    from channels.testing import WebsocketCommunicator

    from portal import live
    from portal.asgi import router

    def out() -> int:
        stats = connection.pool.get_stats()
        return stats["pool_size"] - stats["pool_available"]

    async def scenario() -> None:
        group = live.group_name("portal.workspace", team_a.pk)
        for _ in range(3):
            socket = WebsocketCommunicator(
                router, f"/ws/live/?groups={group}", headers=[(b"origin", b"http://127.0.0.1")]
            )
            socket.scope["user"] = personas["reader"]
            assert (await socket.connect())[0]
            await socket.disconnect()

    get_user_model().objects.exists()  # this thread's own connection, held by the test
    before = out()
    asyncio.run(scenario())
    assert out() == before
