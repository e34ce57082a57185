from django.apps import AppConfig


class AssetsConfig(AppConfig):
    name = "assets"
    verbose_name = "Assets"

    def ready(self) -> None:
        from portal.nav import NavItem
        from portal.registry import registry

        registry.add(
            NavItem("Environments", "environment-list-current", audience="member", order=12),
            NavItem("Models", "model-list-current", audience="member", order=13),
        )
