"""Registering the simulated nodes and keeping their heartbeats fresh, cheaply.

Heartbeats refresh lastHeartbeatTime on each node's conditions at most every 10 simulated
seconds, and never more than HEARTBEAT_BUDGET node writes per real second, spread over
time, so 5,000 nodes do not flood watch streams.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .nodespec import build_nodes, node_conditions, parse_node_spec
from .util import now_iso

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0  # simulated
HEARTBEAT_BUDGET = 500  # node status writes per real second, at most
HEARTBEAT_FLOOR = 1.0  # real seconds between two heartbeats of one node, at least


def register_nodes(store: Any, spec: str | None) -> list[str]:
    """Create the nodes described by `spec` (existing ones are left alone).

    Returns the node names; raises ValueError for a bad spec before touching the store."""
    pools = parse_node_spec(spec)
    stamp = now_iso()
    names: list[str] = []
    for node in build_nodes(pools):
        node["status"]["conditions"] = node_conditions(stamp, stamp)
        name = node["metadata"]["name"]
        names.append(name)
        try:
            store.create("nodes", node)
        except Exception as exc:
            if getattr(exc, "code", None) != 409:
                raise
    return names


async def heartbeat_loop(store: Any, names: list[str], speed: float) -> None:
    """Refresh the nodes' condition heartbeats forever, in small batches."""
    period = max(HEARTBEAT_SECONDS / speed, HEARTBEAT_FLOOR, len(names) / HEARTBEAT_BUDGET)
    transition: dict[str, str] = {}
    tick = min(1.0, period)
    per_tick = max(1, int(len(names) * tick / period + 0.999))
    cursor = 0
    while True:
        await asyncio.sleep(tick)
        if not names:
            continue
        stamp = now_iso()
        for _ in range(min(per_tick, len(names))):
            name = names[cursor % len(names)]
            cursor += 1
            try:
                current = store.get("nodes", name)
            except Exception:
                continue  # deleted by a user: nothing to heartbeat
            conditions = (current.get("status") or {}).get("conditions") or []
            if not transition.get(name):
                transition[name] = (
                    next(
                        (
                            c.get("lastTransitionTime")
                            for c in conditions
                            if c.get("type") == "Ready"
                        ),
                        stamp,
                    )
                    or stamp
                )
            try:
                store.patch(
                    "nodes",
                    name,
                    {"status": {"conditions": node_conditions(stamp, transition[name])}},
                    subresource="status",
                )
            except Exception as exc:
                log.debug("heartbeat for %s failed: %s", name, exc)
