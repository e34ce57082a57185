from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = "Run tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.nav import NavItem
        from portal.registry import registry
        from portal.sources import RunArtifacts
        from tracking import live  # noqa: F401  (registers the live group kind)
        from tracking.services import run_artifact_files, run_artifact_open

        registry.add(
            NavItem("Experiments", "experiment-list-current", audience="member", order=12),
            RunArtifacts(files=run_artifact_files, open=run_artifact_open),
        )
