"""Who watches which cluster: one lease per cluster, and the supervisor that holds them.

Several processes may run a supervisor (``manage.py watch_clusters``, or the embedded
mode's thread); a cluster's lease decides which one watches it, so every cluster is
watched once. A lease whose holder stopped renewing can be taken once it has expired.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from compute.kube.client import client_for
from compute.kube.errors import ClusterError
from compute.kube.watch.dispatch import ClusterWatch
from compute.models import Cluster, ClusterLease, ClusterStatus
from portal import logs

log = logging.getLogger(__name__)

# Clusters watched: every one whose credentials work. An unreachable cluster's readers back
# off on their own; stopping them on a failed check would lose live updates for a minute
# after every blip. Only refused credentials (or deletion, or a lost lease) stop a watch.
WATCHED = [ClusterStatus.CONNECTED, ClusterStatus.DEGRADED, ClusterStatus.UNREACHABLE]


def lease_claim(*, cluster_id: int, holder: str, seconds: float) -> bool:
    """Takes or renews the watch lease of a cluster for ``seconds``; True when ``holder`` has it.

    One conditional UPDATE decides, so of several processes claiming at once exactly one wins;
    a lease whose holder stopped renewing can be taken once it has expired.
    """
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    free = Q(holder=holder) | Q(holder="") | Q(expires_at__lt=now)
    if ClusterLease.objects.filter(free, cluster_id=cluster_id).update(
        holder=holder, expires_at=until, renewed_at=now
    ):
        return True
    try:
        ClusterLease.objects.create(
            cluster_id=cluster_id, holder=holder, expires_at=until, renewed_at=now
        )
        return True
    except IntegrityError:  # someone else's row exists (and is valid), or was just created
        return False


def lease_release(*, cluster_id: int, holder: str) -> None:
    """Gives the lease up (if ``holder`` has it) so another process may take it at once."""
    ClusterLease.objects.filter(cluster_id=cluster_id, holder=holder).update(holder="")


# ---- the supervisor -------------------------------------------------------------------------


class WatchSupervisor:
    """Runs a ``ClusterWatch`` for each watched cluster (``WATCHED``) whose lease this
    process holds.

    Every ``tick`` seconds it renews its leases, claims free ones, starts watches for new or
    newly watched clusters, restarts those of recreated clusters, and stops those of deleted
    or unauthorized clusters and of leases it lost. ``stop()`` stops every watch and releases the leases.
    """

    def __init__(
        self,
        *,
        holder: str | None = None,
        lease_seconds: float = 15.0,
        tick: float = 3.0,
        watch_options: dict | None = None,
        summary_seconds: float | None = None,
    ) -> None:
        self.holder = holder or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self.tick = tick
        self.watch_options = dict(watch_options or {})
        self.watches: dict[int, ClusterWatch] = {}
        self._renewed: dict[int, float] = {}
        self._uids: dict[int, str] = {}  # the cluster identity each watch started with
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.summary_seconds = (
            settings.WATCH_SUMMARY_SECONDS if summary_seconds is None else summary_seconds
        )
        self._names: dict[int, str] = {}
        self.last_pass: float | None = None  # monotonic time of the last pass that worked
        self._summarized = time.monotonic()

    def start(self) -> WatchSupervisor:
        """Runs the supervisor on a daemon thread; returns at once."""
        self._thread = threading.Thread(target=self.run, name="watch-supervisor", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Supervises until ``stop()``; then stops every watch and releases the leases."""
        logs.bind("watch=supervisor")
        try:
            while not self.stopping.is_set():
                try:
                    self.check()
                    self.last_pass = time.monotonic()
                    self.summarize()
                except Exception:  # noqa: BLE001 - e.g. the database is briefly away
                    log.exception("watch supervisor pass failed")
                    self._drop_expired()
                finally:
                    close_old_connections()
                self.stopping.wait(self.tick)
        finally:
            self._shutdown()
            connection.close()

    def passing(self) -> bool:
        """True while the supervisor runs and its last pass (leases renewed or claimed)
        worked less than a lease's time ago: a watcher process's readiness."""
        alive = self._thread is not None and self._thread.is_alive()
        recent = self.last_pass is not None and (
            time.monotonic() - self.last_pass <= max(self.lease_seconds, 2 * self.tick)
        )
        return alive and recent

    def summarize(self, *, force: bool = False) -> list[str]:
        """Every ``summary_seconds``, one log line per watched cluster: events and batches
        since the last one, the batches' lag, restarts and re-lists. Returns the lines."""
        now = time.monotonic()
        if not force and (
            not self.summary_seconds or now - self._summarized < self.summary_seconds
        ):
            return []
        span, self._summarized = now - self._summarized, now
        lines = []
        for cluster_id, watch in list(self.watches.items()):
            w = watch.window.take()
            lines.append(
                f"cluster {self._names.get(cluster_id, cluster_id)}: {w['events']} events in "
                f"{w['batches']} batches in {span:.0f}s, lag mean {w['lag_mean_ms']} ms max "
                f"{w['lag_max_ms']} ms, {w['restarts']} restarts, {w['relists']} re-lists"
            )
        if not self.watches:
            lines.append(f"watching no cluster (holder {self.holder})")
        for line in lines:
            log.info("%s", line)
        return lines

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def check(self) -> None:
        """One pass: renew or claim leases, start and stop watches accordingly."""
        usable = {c.pk: c for c in Cluster.objects.filter(status__in=WATCHED)}
        for cluster_id in list(self.watches):
            if cluster_id not in usable:
                self._stop_watch(cluster_id, release=True)
        for cluster_id, cluster in usable.items():
            if self.stopping.is_set():
                return
            if not lease_claim(
                cluster_id=cluster_id, holder=self.holder, seconds=self.lease_seconds
            ):
                if cluster_id in self.watches:
                    log.warning("lost the watch lease of cluster %s", cluster.name)
                    self._stop_watch(cluster_id, release=False)
                continue
            self._renewed[cluster_id] = time.monotonic()
            try:
                api = client_for(cluster)
            except ClusterError as err:  # e.g. its server moved without new credentials
                log.warning("not watching cluster %s: %s", cluster.name, err.message)
                self._stop_watch(cluster_id, release=True)
                continue
            current = self.watches.get(cluster_id)
            known = self._uids.get(cluster_id)
            recreated = bool(known) and known != cluster.cluster_uid
            if current is not None and (
                current.api is not api or not current.is_alive() or recreated
            ):
                # New credentials, or a cluster recreated (what the watch knew is gone and
                # its resourceVersions mean nothing now): start afresh with a new list.
                self._stop_watch(cluster_id, release=False)
                current = None
            if current is None:
                log.info("watching cluster %s", cluster.name)
                self.watches[cluster_id] = ClusterWatch(
                    cluster_id, api, **self.watch_options
                ).start()
            self._uids[cluster_id] = cluster.cluster_uid
            self._names[cluster_id] = cluster.name

    def _drop_expired(self) -> None:
        """Stops watches whose lease may have passed to someone else (renewal kept failing)."""
        now = time.monotonic()
        for cluster_id in list(self.watches):
            if now - self._renewed.get(cluster_id, 0) > self.lease_seconds * 0.8:
                self._stop_watch(cluster_id, release=False)

    def _stop_watch(self, cluster_id: int, *, release: bool) -> None:
        watch = self.watches.pop(cluster_id, None)
        self._renewed.pop(cluster_id, None)
        self._uids.pop(cluster_id, None)
        if watch is not None:
            watch.stop()
        if release:
            try:
                lease_release(cluster_id=cluster_id, holder=self.holder)
            except Exception:  # noqa: BLE001 - it expires on its own
                log.exception("releasing the lease of cluster %s failed", cluster_id)

    def _shutdown(self) -> None:
        for cluster_id in list(self.watches):
            self._stop_watch(cluster_id, release=True)
