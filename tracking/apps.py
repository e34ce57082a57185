from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = "Run tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.nav import NavItem
        from portal.registry import registry
        from tracking import live  # noqa: F401  (registers the live group kind)

        registry.add(NavItem("Experiments", "experiment-list-current", audience="member", order=12))
