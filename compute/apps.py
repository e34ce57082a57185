from django.apps import AppConfig


class ComputeConfig(AppConfig):
    name = "compute"
    verbose_name = "Compute"

    def ready(self) -> None:
        from compute import watch_handlers
        from compute.models import Cluster
        from compute.notify import render_cluster
        from portal.embedded import Background
        from portal.live import LiveKind
        from portal.nav import NavItem
        from portal.registry import registry

        registry.add(
            LiveKind(
                "compute.cluster",
                lambda user, pk: Cluster.objects.visible_to(user).filter(pk=pk).exists(),
                snapshot=render_cluster,
            ),
            NavItem("Compute", "target-list", audience="member", order=10),
            NavItem("Clusters", "cluster-list", audience="itops", order=60),
            NavItem("Instance types", "instance-type-list", audience="itops", order=61),
            NavItem("Compute targets", "target-admin", audience="itops", order=62),
            # The embedded mode watches clusters from a thread of the web process.
            Background(
                "cluster watchers", watch_handlers.embedded_start, watch_handlers.embedded_stop
            ),
        )
        watch_handlers.register_compute_kinds()
