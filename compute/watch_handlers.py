"""The compute app's own watched kinds (nodes, instance types) and the embedded mode's
watch thread. Registered from ``ComputeConfig.ready``."""

import time
from dataclasses import replace

from compute import tasks
from compute.instance_types import GROUP, PLURAL, VERSION
from compute.kube.watch import Batch, Kind, WatchSupervisor, register
from portal.background import run_now

SYNC_DEBOUNCE = 5.0
_last_sync: dict[int, float] = {}


def _capacity_changed(batch: Batch) -> None:
    """Queues ``cluster_sync`` at most once per SYNC_DEBOUNCE seconds per cluster.

    A change inside the window is handed back for when the window ends, so the last change
    is always synced; the other events of the batch add nothing and are dropped.
    """
    if not batch.events:
        return  # a (re)list with no difference
    now = time.monotonic()
    last = _last_sync.get(batch.cluster_id)
    if last is not None and now - last < SYNC_DEBOUNCE:
        batch.retry(replace(batch.events[0], attempt=0), after=SYNC_DEBOUNCE - (now - last))
        return
    _last_sync[batch.cluster_id] = now
    run_now(tasks.cluster_sync, batch.cluster_id)


def register_compute_kinds() -> None:
    """Registers the nodes and InstanceType kinds (called from ``ComputeConfig.ready``)."""
    register(Kind(name="nodes", path="/api/v1/nodes", handler=_capacity_changed))
    register(
        Kind(
            name="instancetypes",
            path=f"/apis/{GROUP}/{VERSION}/{PLURAL}",
            handler=_capacity_changed,
            optional=True,
        )
    )


# ---- the embedded mode ----------------------------------------------------------------------

_embedded: WatchSupervisor | None = None


def embedded_start() -> None:
    """Starts the supervisor thread inside the web process (embedded mode)."""
    global _embedded
    if _embedded is None:
        _embedded = WatchSupervisor().start()


def embedded_stop() -> None:
    global _embedded
    if _embedded is not None:
        _embedded.stop()
        _embedded = None
