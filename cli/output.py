"""Printing results: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

Column = tuple[str, Callable[[dict], Any]]


def dumps(value: Any) -> str:
    """JSON text as kp prints it: indented, UTF-8 kept."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """Prints ``value`` as JSON on stdout."""
    print(dumps(value), file=stream or sys.stdout)


def cell(value: Any) -> str:
    """The text of one table cell: empty for None, compact for lists and mappings."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return " ".join(f"{key}={cell(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(cell(item) for item in value)
    return " ".join(str(value).split())


def format_time(value: Any) -> str:
    """An ISO 8601 timestamp as local ``YYYY-MM-DD HH:MM:SS``; other values unchanged."""
    if not isinstance(value, str) or not value:
        return cell(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def render_table(rows: Iterable[dict], columns: Sequence[Column]) -> str:
    """Returns ``rows`` as left-aligned columns under upper-case headers."""
    header = [title.upper() for title, _ in columns]
    body = [[cell(getter(row)) for _, getter in columns] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(columns))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    return "\n".join(lines)


def print_table(rows: Sequence[dict], columns: Sequence[Column], *, empty: str) -> None:
    """Prints a table, or ``empty`` when there are no rows."""
    if not rows:
        print(empty)
        return
    print(render_table(rows, columns))


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """Prints ``label: value`` lines with aligned values, skipping None values."""
    shown = [(label, cell(value)) for label, value in pairs if value not in (None, "", [], {})]
    if not shown:
        return
    width = max(len(label) for label, _ in shown) + 1
    for label, text in shown:
        print(f"{(label + ':').ljust(width)} {text}")


def key(name: str) -> Callable[[dict], Any]:
    """A column getter for ``row[name]``."""
    return lambda row: row.get(name)
