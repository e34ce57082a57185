"""Job page fragments that watchers repaint many times a second, rendered in Python.

The template language costs a few hundred microseconds for a small table; the live sender
repaints the instances table of every changed job on every batch, so the page and the live
updates both use this one renderer (``{% instances_table job instances oob %}``).
"""

from functools import lru_cache
from html import escape as _escape

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_HEAD = (
    '<thead><tr><th scope="col">#</th><th scope="col">Pod</th><th scope="col">Node</th>'
    '<th scope="col">Phase</th><th scope="col">State</th><th scope="col">Restarts</th></tr>'
    "</thead>"
)
_EMPTY = '<tr><td colspan="6" class="empty">No pods yet.</td></tr>'


@lru_cache(maxsize=4096)
def _escaped(text: str) -> str:
    return _escape(text)


def escape(value) -> str:
    """Django's ``escape`` without its lazy-string wrapper, which cost more than the table;
    pod, node, phase and state names repeat from one repaint to the next, so it remembers."""
    return _escaped(value if type(value) is str else str(value))


def _get(row, name):
    return row[name] if isinstance(row, dict) else getattr(row, name)


@register.simple_tag
def instances_table(job, instances, oob: bool = False) -> SafeString:
    """The instances table of ``job``: ``instances`` are Instance rows or dicts of their
    fields, in index order."""
    rows = []
    for row in instances:
        state = escape(_get(row, "state"))
        if reason := _get(row, "reason"):
            state += f" ({escape(reason)})"
        if (code := _get(row, "exit_code")) is not None:
            state += f" exit {int(code)}"
        rows.append(
            f"<tr><td>{int(_get(row, 'index'))}</td><td>{escape(_get(row, 'pod'))}</td>"
            f"<td>{escape(_get(row, 'node')) or '–'}</td><td>{escape(_get(row, 'phase'))}</td>"
            f"<td>{state}</td><td>{int(_get(row, 'restarts'))}</td></tr>"
        )
    swap = ' hx-swap-oob="true"' if oob else ""
    return mark_safe(  # noqa: S308 - every value above is escaped or an int
        f'<table id="job-{int(job.pk)}-instances"{swap}>\n  {_HEAD}\n  '
        f"<tbody>{''.join(rows) or _EMPTY}</tbody>\n</table>"
    )
