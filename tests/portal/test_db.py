"""Database helpers of the hot paths: connections kept by worker threads, relaxed commits."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from portal.db import close_stale_connections, commit_without_waiting_for_disk

pytestmark = pytest.mark.django_db(transaction=True)


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
