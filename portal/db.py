"""Database helpers for hot paths."""

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
