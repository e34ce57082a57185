"""Celery tasks of the compute app: thin, fetch by id, call the gateway, save, broadcast."""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from compute import gateway
from compute.gateway import ClusterError

log = logging.getLogger(__name__)

LABELS_FOR_NAMESPACE = {"kubeportal.io/compute-target": "true"}


def _cluster(cluster_id: int):
    from compute.models import Cluster

    return Cluster.objects.filter(pk=cluster_id).first()


@shared_task
def cluster_check(cluster_id: int) -> None:
    """Checks reachability, version, node count and permissions; then syncs when usable."""
    from compute.models import ClusterStatus
    from compute.notify import broadcast_cluster

    cluster = _cluster(cluster_id)
    if cluster is None:
        return
    try:
        result = gateway.check(gateway.client_for(cluster))
    except ClusterError as err:
        cluster.status = (
            ClusterStatus.UNAUTHORIZED if err.kind == "unauthorized" else ClusterStatus.UNREACHABLE
        )
        if err.kind == "forbidden":
            cluster.status = ClusterStatus.UNAUTHORIZED
        cluster.status_reason = err.message
    else:
        cluster.server_version = result.version
        cluster.node_count = result.node_count
        cluster.missing_permissions = result.missing
        if result.missing:
            cluster.status = ClusterStatus.DEGRADED
            cluster.status_reason = (
                "The credentials lack permissions the portal needs: "
                + "; ".join(result.missing)
                + "."
            )
        else:
            cluster.status = ClusterStatus.CONNECTED
            cluster.status_reason = ""
    cluster.last_checked_at = timezone.now()
    with transaction.atomic():
        cluster.save(
            update_fields=[
                "status",
                "status_reason",
                "server_version",
                "node_count",
                "missing_permissions",
                "last_checked_at",
            ]
        )
        broadcast_cluster(cluster, "status")
    if cluster.is_usable:
        cluster_sync(cluster_id)


@shared_task
def recheck_clusters() -> None:
    from compute.models import Cluster

    for cluster_id in Cluster.objects.values_list("pk", flat=True):
        cluster_check(cluster_id)


@shared_task
def sync_clusters() -> None:
    from compute.models import Cluster, ClusterStatus

    for cluster_id in Cluster.objects.filter(
        status__in=[ClusterStatus.CONNECTED, ClusterStatus.DEGRADED]
    ).values_list("pk", flat=True):
        cluster_sync(cluster_id)


@shared_task
def cluster_sync(cluster_id: int) -> None:
    """Refreshes nodes and usage, namespaces, instance types (both directions) and target quotas."""
    from compute import services
    from compute.models import InstanceType, Node
    from compute.notify import broadcast_cluster, broadcast_target

    cluster = _cluster(cluster_id)
    if cluster is None:
        return
    api = gateway.client_for(cluster)
    try:
        nodes = gateway.list_nodes_and_usage(api)
        namespaces = gateway.list_namespaces(api)
        remote_types = gateway.list_instance_types(api) if cluster.extension_installed else None
        quotas = {
            t.pk: gateway.read_quota(api, t.namespace) for t in cluster.targets.all() if t.has_quota
        }
    except ClusterError as err:
        log.warning("sync of cluster %s failed: %s", cluster.name, err.message)
        return
    with transaction.atomic():
        seen = []
        for data in nodes:
            labels = data["labels"]
            pool = (
                labels.get("kubesim.io/pool")
                or labels.get("agentpool")
                or labels.get("node.kubernetes.io/instance-type", "")
            )
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in data["conditions"])
            Node.objects.update_or_create(
                cluster=cluster,
                name=data["name"],
                defaults={
                    "pool": pool,
                    "labels": labels,
                    "taints": data["taints"],
                    "capacity": data["capacity"],
                    "allocatable": data["allocatable"],
                    "requested": data["requested"],
                    "pod_count": data["pod_count"],
                    "ready": ready,
                    "unschedulable": data["unschedulable"],
                    "conditions": data["conditions"],
                },
            )
            seen.append(data["name"])
        cluster.nodes.exclude(name__in=seen).delete()
        cluster.namespaces = namespaces
        cluster.node_count = len(nodes)
        cluster.last_synced_at = timezone.now()
        cluster.save(update_fields=["namespaces", "node_count", "last_synced_at"])
        if remote_types is not None:
            _sync_instance_types(cluster, remote_types)
        services.refresh_fit(cluster=cluster)
        for target in cluster.targets.all():
            quota = quotas.get(target.pk)
            hard, used = (quota or {}).get("hard", {}), (quota or {}).get("used", {})
            if hard != target.quota_hard or used != target.quota_used:
                target.quota_hard, target.quota_used = hard, used
                target.save(update_fields=["quota_hard", "quota_used"])
                broadcast_target(target)
        broadcast_cluster(cluster, "capacity")
    pending = list(
        InstanceType.objects.filter(cluster=cluster, sync_state="pending").values_list(
            "pk", flat=True
        )
    )
    for pk in pending:
        instance_type_push(pk)


def _sync_instance_types(cluster, remote: list[dict]) -> None:
    """The cluster's objects win, except rows with a portal write still pending."""
    from compute import validation
    from compute.models import InstanceType

    by_name = {obj["metadata"]["name"]: obj for obj in remote}
    local = {it.name: it for it in cluster.instance_types.all()}
    for name, obj in by_name.items():
        spec = obj.get("spec") or {}
        resources = spec.get("resources") or {}
        row = local.get(name)
        if row is not None and (
            row.sync_state == "pending"
            or row.resource_version == obj["metadata"].get("resourceVersion")
        ):
            continue
        try:
            normal = validation.instance_type_spec(
                node_selector=spec.get("nodeSelector") or {},
                requests=resources.get("requests") or {},
                limits=resources.get("limits") or {},
            )
            state, message = "in_cluster", ""
        except Exception as exc:  # noqa: BLE001 - an invalid object made with kubectl is shown, flagged
            normal = {
                "requests": resources.get("requests") or {},
                "limits": resources.get("limits") or {},
            }
            state, message = "invalid", f"The object in the cluster is invalid: {exc}"
        origin = (
            InstanceType.Origin.DEFAULT
            if name == "defaultinstancetype"
            else InstanceType.Origin.CLUSTER
        )
        InstanceType.objects.update_or_create(
            cluster=cluster,
            name=name,
            defaults={
                "node_selector": spec.get("nodeSelector") or {},
                "requests": normal["requests"],
                "limits": normal["limits"],
                "resource_version": obj["metadata"].get("resourceVersion", ""),
                "sync_state": state,
                "sync_message": message,
                **({"origin": origin} if row is None else {}),
            },
        )
    for name, row in local.items():
        if name not in by_name and row.sync_state != "pending":
            row.delete()  # deleted in the cluster (e.g. with kubectl)


@shared_task
def extension_install(cluster_id: int) -> None:
    _run_extension_steps(cluster_id, install=True)


@shared_task
def extension_uninstall(cluster_id: int) -> None:
    _run_extension_steps(cluster_id, install=False)


def _run_extension_steps(cluster_id: int, *, install: bool) -> None:
    from compute.models import ExtensionStatus, InstanceType
    from compute.notify import broadcast_cluster

    cluster = _cluster(cluster_id)
    if cluster is None:
        return
    settings_ = {
        "training": cluster.training_enabled,
        "inference": cluster.inference_enabled,
        "nodeSelector": cluster.workload_node_selector,
    }
    steps = gateway.extension_steps(settings_) if install else gateway.uninstall_steps()
    progress = [{"title": title, "state": "waiting", "message": ""} for title, _ in steps]

    def save(status=None) -> None:
        with transaction.atomic():
            cluster.extension_steps = progress
            fields = ["extension_steps"]
            if status:
                cluster.extension_status = status
                fields.append("extension_status")
            cluster.save(update_fields=fields)
            broadcast_cluster(cluster, "extension")

    api = gateway.client_for(cluster)
    for entry, (_title, step) in zip(progress, steps, strict=True):
        entry["state"] = "running"
        save()
        try:
            step(api)
        except ClusterError as err:
            entry["state"], entry["message"] = "failed", err.message
            save(ExtensionStatus.FAILED)
            return
        entry["state"] = "done"
    if install:
        save(ExtensionStatus.INSTALLED)
        cluster_sync(cluster_id)
    else:
        InstanceType.objects.filter(cluster=cluster).delete()
        save(ExtensionStatus.NOT_INSTALLED)


@shared_task
def target_provision(target_id: int, create_namespace: bool) -> None:
    """Checks (and when asked, creates) the target's namespace, then applies its quota."""
    from compute.models import ComputeTarget, TargetStatus
    from compute.notify import broadcast_target

    target = (
        ComputeTarget.objects.select_related("cluster", "workspace").filter(pk=target_id).first()
    )
    if target is None:
        return
    api = gateway.client_for(target.cluster)
    try:
        if not gateway.namespace_exists(api, target.namespace):
            if not create_namespace:
                raise ClusterError(
                    "not_found",
                    f"Namespace {target.namespace} does not exist in {target.cluster.name}; edit the target to create it, or pick an existing namespace.",
                )
            gateway.ensure_namespace(
                api,
                target.namespace,
                {**LABELS_FOR_NAMESPACE, "kubeportal.io/workspace": target.workspace.slug},
            )
        gateway.apply_quota(api, target.namespace, target.quota_spec())
        quota = gateway.read_quota(api, target.namespace) if target.has_quota else None
    except ClusterError as err:
        target.status, target.status_reason = TargetStatus.FAILED, err.message
    else:
        target.status, target.status_reason = TargetStatus.SUCCEEDED, ""
        target.quota_hard = (quota or {}).get("hard", {})
        target.quota_used = (quota or {}).get("used", {})
    with transaction.atomic():
        target.save(update_fields=["status", "status_reason", "quota_hard", "quota_used"])
        broadcast_target(target)


@shared_task
def target_apply_quota(target_id: int) -> None:
    from compute.models import ComputeTarget
    from compute.notify import broadcast_target

    target = ComputeTarget.objects.select_related("cluster").filter(pk=target_id).first()
    if target is None:
        return
    api = gateway.client_for(target.cluster)
    try:
        gateway.apply_quota(api, target.namespace, target.quota_spec())
        quota = gateway.read_quota(api, target.namespace) if target.has_quota else None
    except ClusterError as err:
        target.status_reason = f"Quota not applied: {err.message}"
        target.save(update_fields=["status_reason"])
        return
    target.quota_hard = (quota or {}).get("hard", {})
    target.quota_used = (quota or {}).get("used", {})
    target.status_reason = ""
    with transaction.atomic():
        target.save(update_fields=["quota_hard", "quota_used", "status_reason"])
        broadcast_target(target)


@shared_task
def instance_type_push(instance_type_id: int) -> None:
    from compute.models import InstanceType

    instance = InstanceType.objects.select_related("cluster").filter(pk=instance_type_id).first()
    if instance is None:
        return
    body = gateway.instance_type_object(
        instance.name, instance.node_selector, instance.requests, instance.limits
    )
    try:
        version = gateway.apply_instance_type(gateway.client_for(instance.cluster), body)
    except ClusterError as err:
        InstanceType.objects.filter(pk=instance.pk).update(
            sync_message=f"Not yet in the cluster: {err.message}"
        )
        return
    InstanceType.objects.filter(pk=instance.pk).update(
        sync_state="in_cluster", sync_message="", resource_version=version
    )


@shared_task
def instance_type_remove(cluster_id: int, name: str) -> None:
    cluster = _cluster(cluster_id)
    if cluster is None:
        return
    try:
        gateway.delete_instance_type(gateway.client_for(cluster), name)
    except ClusterError as err:
        log.warning(
            "could not delete instance type %s from %s: %s", name, cluster.name, err.message
        )
