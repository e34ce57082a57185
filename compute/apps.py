from django.apps import AppConfig


class ComputeConfig(AppConfig):
    name = "compute"
    verbose_name = "Compute"

    def ready(self) -> None:
        from compute import watch_handlers
        from compute.models import Cluster
        from compute.notify import render_cluster
        from portal import embedded, live, nav

        live.register(
            "compute.cluster",
            lambda user, pk: Cluster.objects.visible_to(user).filter(pk=pk).exists(),
            snapshot=render_cluster,
        )
        nav.add("Compute", "target-list", audience="member", order=10)
        nav.add("Clusters", "cluster-list", audience="itops", order=60)
        nav.add("Instance types", "instance-type-list", audience="itops", order=61)
        nav.add("Compute targets", "target-admin", audience="itops", order=62)
        watch_handlers.register_compute_kinds()
        # The embedded mode watches clusters from a thread of the web process.
        embedded.on_start(watch_handlers.embedded_start, watch_handlers.embedded_stop)
