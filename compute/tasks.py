"""Celery tasks of the compute app: thin; each fetches its rows by id and calls
``compute.operations``."""

from celery import shared_task

from compute import operations
from compute.models import Cluster, ClusterStatus, ComputeTarget, InstanceType


def _cluster(cluster_id: int) -> Cluster | None:
    return Cluster.objects.filter(pk=cluster_id).first()


@shared_task
def cluster_check(cluster_id: int) -> None:
    """Checks reachability, version, node count and permissions; then syncs when usable."""
    cluster = _cluster(cluster_id)
    if cluster is not None:
        operations.check_cluster(cluster)


@shared_task
def recheck_clusters() -> None:
    for cluster in Cluster.objects.all():
        operations.check_cluster(cluster)


@shared_task
def sync_clusters() -> None:
    # Unreachable ones too: a sync that works again brings them back within a sync period.
    for cluster in Cluster.objects.filter(
        status__in=[ClusterStatus.CONNECTED, ClusterStatus.DEGRADED, ClusterStatus.UNREACHABLE]
    ):
        operations.sync_cluster(cluster)


@shared_task
def cluster_sync(cluster_id: int) -> None:
    """Refreshes nodes and usage, namespaces, instance types (both directions) and target quotas."""
    cluster = _cluster(cluster_id)
    if cluster is not None:
        operations.sync_cluster(cluster)


@shared_task
def extension_install(cluster_id: int) -> None:
    cluster = _cluster(cluster_id)
    if cluster is not None:
        operations.run_extension_steps(cluster, install=True)


@shared_task
def extension_uninstall(cluster_id: int) -> None:
    cluster = _cluster(cluster_id)
    if cluster is not None:
        operations.run_extension_steps(cluster, install=False)


@shared_task
def target_provision(target_id: int, create_namespace: bool) -> None:
    """Checks (and when asked, creates) the target's namespace, then applies its quota."""
    target = (
        ComputeTarget.objects.select_related("cluster", "workspace").filter(pk=target_id).first()
    )
    if target is not None:
        operations.provision_target(target, create_namespace=create_namespace)


@shared_task
def target_apply_quota(target_id: int) -> None:
    target = ComputeTarget.objects.select_related("cluster").filter(pk=target_id).first()
    if target is not None:
        operations.apply_target_quota(target)


@shared_task
def instance_type_push(instance_type_id: int) -> None:
    instance = InstanceType.objects.select_related("cluster").filter(pk=instance_type_id).first()
    if instance is not None:
        operations.push_instance_type(instance)


@shared_task
def instance_type_remove(cluster_id: int, name: str) -> None:
    cluster = _cluster(cluster_id)
    if cluster is not None:
        operations.remove_instance_type(cluster, name)
