"""What the compute tasks do to clusters: check, sync, install the extension, provision
targets, write instance types. Each function takes rows, calls the gateway, saves what it
learned and broadcasts it. Tasks (``compute.tasks``) fetch the rows by id and call these.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compute import fit, gateway, health, restore, validation
from compute.instance_types import DEFAULT_INSTANCE_TYPE, instance_type_object
from compute.kube.errors import ClusterError, ErrorKind
from compute.kube.labels import OUTPUTS_CLAIM, namespace_labels
from compute.models import (
    Cluster,
    ClusterStatus,
    ComputeTarget,
    ExtensionStatus,
    InstanceType,
    Node,
    TargetStatus,
)
from compute.notify import broadcast_cluster, broadcast_target

log = logging.getLogger(__name__)

# The label that groups nodes without any of the pool labels.
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


# ---- clusters --------------------------------------------------------------------------


def check_cluster(cluster: Cluster) -> None:
    """Checks reachability, version, node count and permissions; then syncs when usable.
    One failure only counts towards Unreachable (``compute.health``); while the cluster
    asked to wait (429), nothing is called."""
    if health.waiting(cluster):
        return
    try:
        result = gateway.check(cluster)
    except ClusterError as err:
        health.record_failure(cluster, err)
    else:
        cluster.server_version = result.version
        cluster.node_count = result.node_count
        cluster.missing_permissions = result.missing
        cluster.failures, cluster.failing_since, cluster.backoff_until = 0, None, None
        if result.missing:
            cluster.status = ClusterStatus.DEGRADED
            cluster.status_reason = health.permissions_reason(result.missing)
        else:
            cluster.status = ClusterStatus.CONNECTED
            cluster.status_reason = ""
    cluster.last_checked_at = timezone.now()
    with transaction.atomic():
        cluster.save(
            update_fields=[
                *health.HEALTH_FIELDS,
                "server_version",
                "node_count",
                "missing_permissions",
                "last_checked_at",
            ]
        )
        broadcast_cluster(cluster, "status")
    if cluster.is_usable and not cluster.failures:
        sync_cluster(cluster)


def node_pool(labels: dict) -> str:
    """The pool a node belongs to: the first of ``PORTAL_NODE_POOL_LABELS`` it carries."""
    for key in settings.NODE_POOL_LABELS:
        if labels.get(key):
            return labels[key]
    return labels.get(INSTANCE_TYPE_LABEL, "")


def _store_nodes(cluster: Cluster, nodes: list[dict]) -> None:
    seen = []
    for data in nodes:
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in data["conditions"])
        Node.objects.update_or_create(
            cluster=cluster,
            name=data["name"],
            defaults={
                "pool": node_pool(data["labels"]),
                "labels": data["labels"],
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


def _store_quotas(cluster: Cluster, quotas: dict[int, dict | None]) -> None:
    for target in cluster.targets.all():
        quota = quotas.get(target.pk)
        hard, used = (quota or {}).get("hard", {}), (quota or {}).get("used", {})
        if hard != target.quota_hard or used != target.quota_used:
            target.quota_hard, target.quota_used = hard, used
            target.save(update_fields=["quota_hard", "quota_used"])
            broadcast_target(target)


def _save_health(cluster: Cluster) -> None:
    with transaction.atomic():
        cluster.save(update_fields=health.HEALTH_FIELDS)
        broadcast_cluster(cluster, "status")


def sync_cluster(cluster: Cluster) -> None:
    """Refreshes nodes and usage, namespaces, instance types (both directions) and target
    quotas. A failure counts towards the cluster's health; a cluster found recreated (or
    restarted empty) gets back what the portal made in it (``restore``)."""
    if health.waiting(cluster):
        return
    try:
        nodes = gateway.list_nodes_and_usage(cluster)
        namespaces = gateway.list_namespaces(cluster)
        remote_types = gateway.list_instance_types(cluster) if cluster.extension_installed else None
        quotas = {
            t.pk: gateway.read_quota(cluster, t.namespace)
            for t in cluster.targets.all()
            if t.has_quota and t.namespace in namespaces
        }
    except ClusterError as err:
        log.warning("sync of cluster %s failed: %s", cluster.name, err.message)
        health.record_failure(cluster, err)
        _save_health(cluster)
        return
    if cluster.failures or cluster.status == ClusterStatus.UNREACHABLE:
        health.record_success(cluster)
        _save_health(cluster)
    lost = restore.lost_objects(cluster, namespaces, remote_types)
    with transaction.atomic():
        _store_nodes(cluster, nodes)
        cluster.namespaces = sorted(namespaces)
        cluster.cluster_uid = namespaces.get("kube-system", cluster.cluster_uid)
        cluster.node_count = len(nodes)
        cluster.last_synced_at = timezone.now()
        cluster.save(update_fields=["namespaces", "cluster_uid", "node_count", "last_synced_at"])
        if lost:
            restore.mark_lost(cluster, lost)
        elif remote_types is not None:
            _sync_instance_types(cluster, remote_types)
        refresh_fit(cluster=cluster)
        _store_quotas(cluster, quotas)
        broadcast_cluster(cluster, "capacity")
    if lost:
        restore_lost(cluster, lost)
        return
    pending = InstanceType.objects.filter(cluster=cluster, sync_state="pending")
    for instance in pending.select_related("cluster"):
        push_instance_type(instance)


def _normal_spec(spec: dict) -> tuple[dict, str, str]:
    """(requests and limits, sync state, message) of an InstanceType object's spec."""
    resources = spec.get("resources") or {}
    try:
        normal = validation.instance_type_spec(
            node_selector=spec.get("nodeSelector") or {},
            requests=resources.get("requests") or {},
            limits=resources.get("limits") or {},
        )
    except Exception as exc:  # noqa: BLE001 - an invalid object made with kubectl is shown, flagged
        normal = {
            "requests": resources.get("requests") or {},
            "limits": resources.get("limits") or {},
        }
        return normal, "invalid", f"The object in the cluster is invalid: {exc}"
    return normal, "in_cluster", ""


def _sync_instance_types(cluster: Cluster, remote: list[dict]) -> None:
    """The cluster's objects win, except rows with a portal write still pending."""
    by_name = {obj["metadata"]["name"]: obj for obj in remote}
    local = {it.name: it for it in cluster.instance_types.all()}
    for name, obj in by_name.items():
        spec = obj.get("spec") or {}
        row = local.get(name)
        if row is not None and (
            row.sync_state == "pending"
            or row.resource_version == obj["metadata"].get("resourceVersion")
        ):
            continue
        normal, state, message = _normal_spec(spec)
        origin = (
            InstanceType.Origin.DEFAULT
            if name == DEFAULT_INSTANCE_TYPE["name"]
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


def refresh_fit(*, cluster: Cluster, instance_types=None) -> None:
    """Recomputes, from the stored nodes, which nodes can hold each instance type."""
    nodes = list(cluster.nodes.all())
    for instance in instance_types if instance_types is not None else cluster.instance_types.all():
        verdict = fit.evaluate(instance, nodes, cluster.workload_node_selector)
        instance.fitting_nodes = verdict["nodes"]
        instance.free_slots = verdict["free"]
        instance.capacity_slots = verdict["capacity"]
        InstanceType.objects.filter(pk=instance.pk).update(
            fitting_nodes=verdict["nodes"],
            free_slots=verdict["free"],
            capacity_slots=verdict["capacity"],
        )


# ---- the extension ---------------------------------------------------------------------


def restore_lost(cluster: Cluster, lost: restore.Lost) -> None:
    """Puts back what ``cluster`` lost (``compute.restore``): targets' namespaces, quotas and
    claims, then the extension with its stored settings and every instance type the portal
    knew. The next sync picks up from there (and tries again what failed)."""
    for target in lost.targets:
        provision_target(target, create_namespace=True)
    if lost.extension:
        run_extension_steps(cluster, install=True, sync=False)
        if cluster.extension_installed:
            for instance in InstanceType.objects.filter(cluster=cluster, sync_state="pending"):
                instance.cluster = cluster
                push_instance_type(instance)


def run_extension_steps(cluster: Cluster, *, install: bool, sync: bool = True) -> None:
    """Runs the extension's install (or uninstall) steps, saving and pushing each step's
    state; after an install, syncs the cluster (unless ``sync`` is false)."""
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

    for entry, (_title, step) in zip(progress, steps, strict=True):
        entry["state"] = "running"
        save()
        try:
            step(cluster)
        except ClusterError as err:
            entry["state"], entry["message"] = "failed", err.message
            save(ExtensionStatus.FAILED)
            return
        entry["state"] = "done"
    if install:
        save(ExtensionStatus.INSTALLED)
        if sync:
            sync_cluster(cluster)
    else:
        InstanceType.objects.filter(cluster=cluster).delete()
        save(ExtensionStatus.NOT_INSTALLED)


# ---- compute targets -------------------------------------------------------------------


def _read_target_quota(target: ComputeTarget) -> None:
    quota = gateway.read_quota(target.cluster, target.namespace) if target.has_quota else None
    target.quota_hard = (quota or {}).get("hard", {})
    target.quota_used = (quota or {}).get("used", {})


def provision_target(target: ComputeTarget, *, create_namespace: bool) -> None:
    """Checks (and when asked, creates) the target's namespace, then applies its quota and
    makes sure its outputs claim exists."""
    cluster = target.cluster
    try:
        if not gateway.namespace_exists(cluster, target.namespace):
            if not create_namespace:
                raise ClusterError(
                    ErrorKind.NOT_FOUND,
                    f"Namespace {target.namespace} does not exist in {cluster.name}; edit the target to create it, or pick an existing namespace.",
                )
            gateway.ensure_namespace(
                cluster, target.namespace, namespace_labels(target.workspace.slug)
            )
        gateway.apply_quota(cluster, target.namespace, target.quota_spec())
        gateway.ensure_claim(cluster, target.namespace, OUTPUTS_CLAIM, settings.OUTPUTS_CLAIM_SIZE)
        _read_target_quota(target)
    except ClusterError as err:
        target.status, target.status_reason = TargetStatus.FAILED, err.message
    else:
        target.status, target.status_reason = TargetStatus.SUCCEEDED, ""
    with transaction.atomic():
        target.save(update_fields=["status", "status_reason", "quota_hard", "quota_used"])
        broadcast_target(target)


def apply_target_quota(target: ComputeTarget) -> None:
    """Writes the target's quota to its namespace and stores what the cluster reports."""
    try:
        gateway.apply_quota(target.cluster, target.namespace, target.quota_spec())
        _read_target_quota(target)
    except ClusterError as err:
        target.status_reason = f"Quota not applied: {err.message}"
        target.save(update_fields=["status_reason"])
        return
    target.status_reason = ""
    with transaction.atomic():
        target.save(update_fields=["quota_hard", "quota_used", "status_reason"])
        broadcast_target(target)


# ---- instance types --------------------------------------------------------------------


def push_instance_type(instance: InstanceType) -> None:
    """Writes an instance type to its cluster; the row records whether that worked."""
    body = instance_type_object(
        instance.name, instance.node_selector, instance.requests, instance.limits
    )
    try:
        version = gateway.apply_instance_type(instance.cluster, body)
    except ClusterError as err:
        InstanceType.objects.filter(pk=instance.pk).update(
            sync_message=f"Not yet in the cluster: {err.message}"
        )
        return
    InstanceType.objects.filter(pk=instance.pk).update(
        sync_state="in_cluster", sync_message="", resource_version=version
    )


def remove_instance_type(cluster: Cluster, name: str) -> None:
    """Deletes an instance type from its cluster (a failure is logged: a sync shows it)."""
    try:
        gateway.delete_instance_type(cluster, name)
    except ClusterError as err:
        log.warning(
            "could not delete instance type %s from %s: %s", name, cluster.name, err.message
        )
