"""Live fragments of the compute app, pushed after the rows they show are saved."""

from django.template.loader import render_to_string

from portal import live


def broadcast_cluster(cluster, *parts: str) -> None:
    """Pushes the cluster page's status, extension and capacity fragments to ``compute.cluster.<id>``."""

    def render() -> str:
        from compute import selectors

        context = selectors.cluster_page_context(cluster.__class__.objects.get(pk=cluster.pk))
        context["oob"] = True
        names = parts or ("status", "extension", "capacity")
        return "".join(
            render_to_string(f"compute/cluster_detail.html#{name}", context) for name in names
        )

    live.broadcast(live.group_name("compute.cluster", cluster.pk), render)


def broadcast_target(target) -> None:
    """Pushes the target's card to its workspace's group (the compute page of its members)."""

    def render() -> str:
        from compute import selectors

        fresh = target.__class__.objects.select_related("cluster", "workspace").get(pk=target.pk)
        return render_to_string(
            "compute/target_list.html#target-card",
            {"card": selectors.target_card(fresh), "oob": True},
        )

    live.broadcast(
        live.group_name("portal.workspace", target.workspace_id), render, key=f"target-{target.pk}"
    )
