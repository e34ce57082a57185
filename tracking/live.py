"""Live updates of runs: the group ``tracking.run.<pk>`` carries new metric points to the
charts, batched: points logged while the sender is busy go out in one message, and a key
with more points than a chart can show in one go is thinned to its shape first."""

import json
import math
import threading
from collections import defaultdict

from django.utils.html import escape

from portal import live
from portal.registry import registry
from tracking.models import Run

KIND = "tracking.run"
# At most this many points per key per message; a faster series is thinned (every n-th
# point and the last), the chart's next full read has them all.
MAX_POINTS_PER_KEY = 1000

_pending: dict[int, list] = defaultdict(list)
_lock = threading.Lock()


def group(run_pk: int) -> str:
    return f"{KIND}.{int(run_pk)}"


def _readable(user, pks: list[int]) -> set[int]:
    return set(Run.objects.visible_to(user).filter(pk__in=pks).values_list("pk", flat=True))


registry.add(
    live.LiveKind(
        kind=KIND,
        can_read=lambda user, pk: bool(_readable(user, [pk])),
        readable=_readable,
    )
)


def _thin(series: list) -> list:
    if len(series) <= MAX_POINTS_PER_KEY:
        return series
    every = math.ceil(len(series) / MAX_POINTS_PER_KEY)
    return series[::every] + ([series[-1]] if (len(series) - 1) % every else [])


def _drain(run_pk: int) -> str:
    with _lock:
        found = _pending.pop(run_pk, [])
    if not found:
        return ""
    by_key: dict[str, list] = defaultdict(list)
    for point in found:
        if math.isfinite(point.value):
            by_key[point.key].append([point.step, point.timestamp, point.value])
    if not by_key:
        return ""
    payload = json.dumps({key: _thin(series) for key, series in by_key.items()})
    return (
        f'<div id="run-points-{int(run_pk)}" hx-swap-oob="true" class="run-points" '
        f'data-run="{int(run_pk)}" data-points="{escape(payload)}" hidden></div>'
    )


def points(run_pk: int, new_points: list) -> None:
    """Queues ``new_points`` for the run's charts (sent after the commit)."""
    with _lock:
        _pending[run_pk].extend(new_points)
    live.broadcast(group(run_pk), lambda: _drain(run_pk), key="points")


def _status(run_pk: int) -> str:
    run = Run.objects.filter(pk=run_pk).only("status").first()
    if run is None:
        return ""
    return f'<span id="run-status-{int(run_pk)}" hx-swap-oob="true">{escape(run.status)}</span>'


def run_changed(run_pk: int) -> None:
    live.broadcast(group(run_pk), lambda: _status(run_pk), key="status")
