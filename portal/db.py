"""Database helpers for hot paths."""

import functools
import time
from collections.abc import Sequence

import psycopg
from channels.db import database_sync_to_async
from django.db import close_old_connections, connections, router
from django.db.models import Model

ROWS_PER_STATEMENT = 5000  # rows per UPDATE on PostgreSQL


def update_many(model: type[Model], rows: Sequence, fields: Sequence[str]) -> None:
    """Writes ``fields`` of each of ``rows`` of ``model`` in as few statements as it can.

    For the watchers' batches. On PostgreSQL, one ``UPDATE ... FROM unnest(arrays)`` per
    ``ROWS_PER_STATEMENT`` rows: the server plans and runs one statement, not one per row.
    Elsewhere (SQLite, in process) one ``executemany``. No signals are sent; ``auto_now``
    fields are not touched unless named and set by the caller. ``rows`` may be model
    instances or any objects with ``pk`` and the fields as attributes.
    """
    if not rows:
        return
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    targets = [meta.get_field(name) for name in fields]
    # Rows repeat values (a phase, a node, the batch's time): each distinct one is prepared
    # once per field (a field's preparation depends on the value alone).
    prepared: list[dict] = [{} for _ in targets]

    def prepare(field, memo: dict, value):
        try:
            return memo[(value.__class__, value)]
        except KeyError:
            memo[(value.__class__, value)] = done = field.get_db_prep_save(value, connection)
            return done
        except TypeError:  # unhashable
            return field.get_db_prep_save(value, connection)

    pairs = list(zip(targets, prepared, strict=True))
    params = [
        [row.pk] + [prepare(f, memo, getattr(row, f.attname)) for f, memo in pairs] for row in rows
    ]
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    if connection.vendor == "postgresql":
        columns = [meta.pk, *targets]
        arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
        names = ", ".join(quote(f.column) for f in columns)
        assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in targets)
        sql = (
            f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({names}) "
            f"WHERE {table}.{pk} = v.{pk}"
        )
        connection.ensure_connection()
        # Parameters bound by the server: one array per column, no quoting of thousands of
        # values in Python (Django's cursors bind on the client).
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            for start in range(0, len(params), ROWS_PER_STATEMENT):
                chunk = params[start : start + ROWS_PER_STATEMENT]
                columns_of_chunk = [list(column) for column in zip(*chunk, strict=True)]
                cursor.execute(sql, columns_of_chunk, prepare=False)  # a plan per batch size
        return
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in targets)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [p[1:] + p[:1] for p in params]
        )


# Column types a database returns as the Python values Django would give (no converters).
PLAIN_TYPES = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "CharField",
    "TextField",
    "SlugField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
    "ForeignKey",
}


def values_in(model: type[Model], fields: Sequence[str], column: str, values) -> list[tuple]:
    """``fields`` of the rows of ``model`` whose ``column`` is one of ``values``, as tuples in
    no particular order: ``model.objects.filter(<column>__in=values).values_list(*fields)``
    without building and compiling a query each time (about five times cheaper for the few
    dozen rows a watch batch or a live repaint reads, forty times a second).

    Names are attribute names (``id``, ``job_id``). Only plain columns (numbers, text, foreign
    keys): their values come back as Django would give them, with no converter to apply."""
    values = list(values)
    if not values:
        return []
    meta = model._meta
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    chosen = [meta.get_field(name) for name in (*fields, column)]
    for field in chosen:
        if field.get_internal_type() not in PLAIN_TYPES:
            raise ValueError(f"values_in reads plain columns only, not {field.name!r}")
    select = ", ".join(quote(f.column) for f in chosen[:-1])
    table, where = quote(meta.db_table), quote(chosen[-1].column)
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT {select} FROM {table} WHERE {where} = ANY(%s)", [values])
            return cursor.fetchall()
        step = connection.features.max_query_params or 999
        for start in range(0, len(values), step):
            chunk = values[start : start + step]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"SELECT {select} FROM {table} WHERE {where} IN ({marks})", chunk)
            rows += cursor.fetchall()
    return rows


def off_loop(func):
    """``func`` made awaitable on a thread of the loop's pool, its connections closed (or given
    back to the pool) around the call as Channels' ``database_sync_to_async`` does, but not on
    the one thread every sync call of the process shares: a websocket's checks and snapshots
    wait on the database most of their time, and a thousand tabs reconnecting at once
    otherwise queue behind each other's round trips."""

    @functools.wraps(func)
    def closing(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            # Here too: for a call from a websocket's tasks, Channels' own clean-up around
            # it left the pooled connection checked out (one per socket that joined).
            close_old_connections()

    return database_sync_to_async(closing, thread_sensitive=False)


def close_stale_connections(max_age: float = 300.0) -> None:
    """``close_old_connections()`` for a long-running thread between its batches (a watch
    dispatcher, the live sender). A pooled connection goes back to the pool (taking it again
    is cheap, and a thread per cluster must not hold one each). Without a pool the thread's
    connections are kept, since opening one costs a few milliseconds against PostgreSQL and
    ``CONN_MAX_AGE=0`` would open one per batch: a connection is then closed when it saw an
    error and no longer answers, or once it is older than ``max_age`` seconds; the next query
    opens a fresh one."""
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if raw is None or conn.in_atomic_block:
            continue
        if getattr(conn, "pool", None) is not None:
            conn.close()
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


def forget_pools_after_fork() -> None:
    """In a forked child (a Celery prefork worker): drops the connection pools inherited from
    the parent without closing them (closing would end the parent's sessions); the child's
    first query makes its own pool. Registered once per process by ``PortalConfig.ready``."""
    for conn in connections.all(initialized_only=True):
        conn.connection = None  # the parent's socket: not ours to use or to close
    pools = getattr(type(connections["default"]), "_connection_pools", None)
    if isinstance(pools, dict):
        pools.clear()
