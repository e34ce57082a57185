"""A cluster's health, from its checks and syncs over time rather than from one call.

One failed call proves little: an API server answers the odd 500, and a 429 means it is
alive but busy. So a failure first shows as Degraded (with what failed), and the cluster is
marked Unreachable only after ``CLUSTER_FAILURES_UNREACHABLE`` consecutive failed checks
or syncs spanning ``CLUSTER_FAILURE_WINDOW`` seconds; the next success clears it. A 429
does not count against the cluster: the portal waits as long as its ``Retry-After`` asks
(``backoff_until``) before calling again. Credentials the cluster refuses (401, 403) are
no transient failure: Unauthorized at once. None of this stops the watches
(``compute.kube.watch.leases``), which back off on their own.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from compute.kube.errors import ClusterError, ErrorKind
from compute.models import Cluster, ClusterStatus

HEALTH_FIELDS = ["status", "status_reason", "failures", "failing_since", "backoff_until"]


def waiting(cluster: Cluster) -> bool:
    """True while the cluster asked the portal to wait (a 429's Retry-After)."""
    return cluster.backoff_until is not None and timezone.now() < cluster.backoff_until


def record_failure(cluster: Cluster, err: ClusterError) -> None:
    """Sets the cluster's health fields after a failed check or sync (the caller saves
    ``HEALTH_FIELDS``)."""
    now = timezone.now()
    if err.retry_after:
        cluster.backoff_until = now + timedelta(seconds=err.retry_after)
    if err.kind in (ErrorKind.UNAUTHORIZED, ErrorKind.FORBIDDEN):
        cluster.status, cluster.status_reason = ClusterStatus.UNAUTHORIZED, err.message
        cluster.failures, cluster.failing_since = 0, None
        return
    if err.status == 429:  # alive but busy: wait as asked, count nothing against it
        if cluster.status == ClusterStatus.PENDING:
            cluster.status_reason = err.message
        return
    cluster.failures += 1
    cluster.failing_since = cluster.failing_since or now
    limit, window = settings.CLUSTER_FAILURES_UNREACHABLE, settings.CLUSTER_FAILURE_WINDOW
    lasting = (now - cluster.failing_since).total_seconds() >= window
    if cluster.status in (ClusterStatus.PENDING, ClusterStatus.UNREACHABLE) or (
        cluster.failures >= limit and lasting
    ):
        cluster.status, cluster.status_reason = ClusterStatus.UNREACHABLE, err.message
        return
    cluster.status = ClusterStatus.DEGRADED
    cluster.status_reason = (
        f"{err.message} ({cluster.failures} failed in a row; the cluster is marked "
        f"unreachable after {limit} over {window} seconds.)"
    )


def record_success(cluster: Cluster) -> None:
    """Clears the failure count after a check or sync that worked; a cluster Degraded or
    Unreachable only because of failures is Connected again (the caller saves
    ``HEALTH_FIELDS``)."""
    failing = cluster.failures or cluster.status == ClusterStatus.UNREACHABLE
    cluster.failures, cluster.failing_since, cluster.backoff_until = 0, None, None
    if failing and cluster.status in (ClusterStatus.DEGRADED, ClusterStatus.UNREACHABLE):
        if cluster.missing_permissions:
            cluster.status = ClusterStatus.DEGRADED
            cluster.status_reason = permissions_reason(cluster.missing_permissions)
        else:
            cluster.status, cluster.status_reason = ClusterStatus.CONNECTED, ""


def permissions_reason(missing: list[str]) -> str:
    return "The credentials lack permissions the portal needs: " + "; ".join(missing) + "."
