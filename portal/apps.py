from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import live, nav
        from portal.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from portal.models import Workspace

        nav.add("Home", "home", audience="all", order=0)
        nav.add("Workspaces", "workspace-list", audience="all", order=80)
        nav.add("API tokens", "token-list", audience="all", order=90)
        nav.add("Admin panel", "admin:index", audience="itops", order=99)

        live.register(
            "portal.workspace",
            lambda user, pk: Workspace.objects.visible_to(user).filter(pk=pk).exists(),
        )


class PortalAdminConfig(AdminConfig):
    """The Django admin, open to IT operations only."""

    default_site = "portal.admin_site.PortalAdminSite"
