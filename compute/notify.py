"""Live fragments of the compute app, pushed after the rows they show are saved."""

from django.template.loader import render_to_string

from compute import selectors
from compute.models import Cluster
from portal import live

CLUSTER_PARTS = ("status", "extension", "capacity")


def render_cluster(cluster_id: int, parts: tuple[str, ...] = CLUSTER_PARTS) -> str:
    """The live parts of a cluster's page, marked for out-of-band swaps."""
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        return ""
    context = selectors.cluster_page_context(cluster)
    context["oob"] = True
    return "".join(
        render_to_string(f"compute/cluster_detail.html#{name}", context) for name in parts
    )


def broadcast_cluster(cluster, *parts: str) -> None:
    """Pushes the cluster page's status, extension and capacity fragments to ``compute.cluster.<id>``."""
    wanted = tuple(parts) or CLUSTER_PARTS
    live.broadcast(
        live.group_name("compute.cluster", cluster.pk),
        lambda: render_cluster(cluster.pk, wanted),
        key=f"cluster-{cluster.pk}-{'-'.join(wanted)}",
    )


def broadcast_target(target) -> None:
    """Pushes the target's card to its workspace's group (the compute page of its members)."""

    def render() -> str:
        fresh = target.__class__.objects.select_related("cluster", "workspace").get(pk=target.pk)
        return render_to_string(
            "compute/target_list.html#target-card",
            {"card": selectors.target_card(fresh), "oob": True},
        )

    live.broadcast(
        live.group_name("portal.workspace", target.workspace_id), render, key=f"target-{target.pk}"
    )
