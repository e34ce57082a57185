"""Many rows in one statement.

PostgreSQL gets ``INSERT ... SELECT * FROM unnest(%s::type[], ...)``: one parameter per
column whatever the number of rows, so neither a round trip per row (``executemany``
outside pipeline mode) nor a query text with thousands of placeholders for the client-side
binding Django uses to parse. SQLite, in-process, gets ``INSERT ... VALUES (...), (...)``
in chunks. The SQL around the values is the caller's, built from model names, never from
input; values are always parameters.
"""

from django.db import connection

CHUNK = 500  # rows per SQLite statement, well under its parameter limit


def insert(cursor, head: str, types: tuple[str, ...], rows: list[tuple], tail: str = "") -> None:
    """Runs ``head <rows> tail``; ``types`` are the columns' PostgreSQL types, in order."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        columns = [list(column) for column in zip(*rows, strict=True)]
        cursor.execute(f"{head} SELECT * FROM unnest({arrays}) {tail}", columns)
        return
    marks = "(" + ", ".join(["%s"] * len(types)) + ")"
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        values = ", ".join([marks] * len(chunk))
        cursor.execute(f"{head} VALUES {values} {tail}", [v for row in chunk for v in row])
