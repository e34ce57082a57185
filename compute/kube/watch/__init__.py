"""Watching clusters: list-then-watch loops that keep a cache and hand batched changes to apps.

Per cluster that this process holds the lease of (``leases.WatchSupervisor``): one
``reader.Reader`` thread per registered ``kinds.Kind`` keeps a ``cache.Cache`` of the
latest objects, and one dispatcher thread (``dispatch.ClusterWatch``) hands coalesced
changes to the kinds' handlers in ``dispatch.Batch``es.

A broken cluster only stalls its own threads: every request has a time-out and each
cluster has its own threads. The engine is generic: apps register kinds from their
``AppConfig.ready``; it imports nothing of them.
"""

from compute.kube.watch.cache import Cache, Event, object_key
from compute.kube.watch.dispatch import Batch, ClusterWatch
from compute.kube.watch.kinds import Kind, register, registered
from compute.kube.watch.leases import WatchSupervisor, lease_claim, lease_release
from compute.kube.watch.reader import Backoff, Gone, NotInstalled, Reader

__all__ = [
    "Backoff",
    "Batch",
    "Cache",
    "ClusterWatch",
    "Event",
    "Gone",
    "Kind",
    "NotInstalled",
    "Reader",
    "WatchSupervisor",
    "lease_claim",
    "lease_release",
    "object_key",
    "register",
    "registered",
]
