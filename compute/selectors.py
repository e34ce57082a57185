"""Reads of the compute app for pages, the API and live fragments."""

from collections import defaultdict
from decimal import Decimal

from django.db.models import Q

from compute import quantity
from compute.models import Cluster, ComputeRequest, ComputeTarget, InstanceType


def cluster_page_context(cluster: Cluster) -> dict:
    """Everything the cluster page shows: status, extension, nodes by pool with totals, instance types."""
    nodes = list(cluster.nodes.all())
    pools: dict[str, list] = defaultdict(list)
    for node in nodes:
        pools[node.pool or "(no pool)"].append(node)
    pool_rows = []
    for pool, members in sorted(pools.items()):
        totals = []
        for resource in ("cpu", "memory", "nvidia.com/gpu"):
            alloc = sum(
                (quantity.parse(n.allocatable.get(resource, 0)) for n in members), Decimal(0)
            )
            used = sum((quantity.parse(n.requested.get(resource, 0)) for n in members), Decimal(0))
            if alloc or resource != "nvidia.com/gpu":
                totals.append(
                    {
                        "resource": resource,
                        "allocatable": quantity.format_resource(resource, alloc),
                        "requested": quantity.format_resource(resource, used),
                        "percent": min(100, round(float(used / alloc) * 100)) if alloc else 0,
                    }
                )
        pool_rows.append(
            {
                "name": pool,
                "nodes": members,
                "totals": totals,
                "pods": sum(n.pod_count for n in members),
            }
        )
    return {
        "cluster": cluster,
        "pools": pool_rows,
        "instance_types": cluster.instance_types.all(),
        "targets": cluster.targets.select_related("workspace"),
    }


def target_card(target: ComputeTarget) -> dict:
    """A target with the instance types its members may use and what is free now."""
    return {
        "target": target,
        "instance_types": list(target.usable_instance_types().order_by("name")),
        "quota": target.quota_rows(),
    }


def targets_for(*, user, workspace) -> list[dict]:
    targets = (
        ComputeTarget.objects.visible_to(user)
        .filter(workspace=workspace)
        .select_related("cluster", "workspace")
        .prefetch_related("allowed_instance_types")
    )
    return [target_card(t) for t in targets]


def requests_for(*, user, workspace=None):
    qs = ComputeRequest.objects.visible_to(user).select_related(
        "workspace", "requested_by", "reviewed_by", "target"
    )
    return qs.filter(workspace=workspace) if workspace is not None else qs


def instance_types_usable_by(user):
    """The instance types ``user`` may see: all for IT operations; for members, those some
    compute target of their workspaces allows (a target without an allowed list allows its
    cluster's every type), never the rest of a shared cluster's."""
    if user.is_authenticated and user.is_active and user.is_itops:
        return InstanceType.objects.all()
    targets = ComputeTarget.objects.visible_to(user)
    restricted = targets.filter(allowed_instance_types__isnull=False).values("pk")
    open_targets = targets.exclude(pk__in=restricted)
    return InstanceType.objects.filter(
        Q(targets__in=targets) | Q(cluster__targets__in=open_targets)
    ).distinct()
