"""Measured CPU and memory of process sessions, read from /proc.

Each container's processes share one session (its launcher is the session leader), so a
container's usage is the sum over the processes of that session.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ")".
    return raw[raw.rfind(")") + 2 :].split()


def session_members(sessions: Iterable[int]) -> dict[int, list[int]]:
    """Return session id -> pids of its live processes, for the given sessions."""
    wanted = set(sessions)
    out: dict[int, list[int]] = {sid: [] for sid in wanted}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fields = _stat_fields(pid)
        if fields and len(fields) > 22 and fields[0] != "Z" and int(fields[3]) in wanted:
            out[int(fields[3])].append(int(pid))
    return out


def session_usage(sessions: Iterable[int]) -> dict[int, tuple[float, int]]:
    """Return session id -> (CPU seconds used so far, resident bytes now)."""
    wanted = set(sessions)
    out: dict[int, tuple[float, int]] = {sid: (0.0, 0) for sid in wanted}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fields = _stat_fields(pid)
        if not fields or len(fields) < 22:
            continue
        sid = int(fields[3])
        if sid not in wanted:
            continue
        cpu, rss = out[sid]
        out[sid] = (cpu + (int(fields[11]) + int(fields[12])) / TICKS, rss + int(fields[21]) * PAGE)
    return out


def first_child(pid: int) -> int | None:
    """Return the oldest child of `pid` (the launcher's process inside the namespaces)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            children = fh.read().split()
        return int(children[0]) if children else None
    except (OSError, ValueError):
        return None
