"""Database helpers for hot paths."""

import time
from collections.abc import Sequence

from django.db import connections, router
from django.db.models import Model


def update_many(model: type[Model], rows: Sequence, fields: Sequence[str]) -> None:
    """Writes ``fields`` of each of ``rows`` of ``model`` with a single ``executemany``.

    For the watchers' batches: the same UPDATE for a hundred rows costs one statement
    compile instead of a hundred ``save()`` calls (no signals are sent; ``auto_now``
    fields are not touched unless named and set by the caller). ``rows`` may be model
    instances or any objects with ``pk`` and the fields as attributes.
    """
    if not rows:
        return
    meta = model._meta
    alias = router.db_for_write(model)
    connection = connections[alias]
    quote = connection.ops.quote_name
    targets = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in targets)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    params = [
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in targets] + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def close_stale_connections(max_age: float = 300.0) -> None:
    """``close_old_connections()`` for a long-running thread between its batches (a watch
    dispatcher, the live sender): the thread's connections are kept, since opening one costs
    a few milliseconds against PostgreSQL and ``CONN_MAX_AGE=0`` would open one per batch.
    A connection is closed when it saw an error and no longer answers, or once it is older
    than ``max_age`` seconds; the next query opens a fresh one."""
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if raw is None or conn.in_atomic_block:
            continue
        if conn.errors_occurred:
            if not conn.is_usable():
                conn.close()
                continue
            conn.errors_occurred = False
        born = getattr(conn, "_portal_born", None)
        if born is None or born[0] is not raw:
            conn._portal_born = born = (raw, now)
        if now - born[1] > max_age:
            conn.close()


def commit_without_waiting_for_disk(using: str = "default") -> None:
    """Inside a transaction: lets its commit return before PostgreSQL has flushed it to disk
    (``synchronous_commit = off`` for this transaction only; no effect on other databases).

    For writes the cluster can always give again, such as the watchers' status batches: a
    database crash may lose the last fraction of a second of them, which the watchers'
    re-list on restart and the reconcile task repair. Never for what users submit.
    """
    conn = connections[using]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
