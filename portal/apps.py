import os

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from portal import db, live, nav
        from portal.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from portal.models import User, Workspace

        os.register_at_fork(after_in_child=db.forget_pools_after_fork)
        nav.add("Home", "home", audience="all", order=0)
        nav.add("Workspaces", "workspace-list", audience="all", order=80)
        nav.add("API tokens", "token-list", audience="all", order=90)
        nav.add("Admin panel", "admin:index", audience="itops", order=99)

        post_save.connect(_recheck_on_rights_change, sender=User, dispatch_uid="live-recheck")
        live.register(
            "portal.workspace",
            lambda user, pk: Workspace.objects.visible_to(user).filter(pk=pk).exists(),
        )


class PortalAdminConfig(AdminConfig):
    """The Django admin, open to IT operations only."""

    default_site = "portal.admin_site.PortalAdminSite"


RIGHTS_FIELDS = {"is_itops", "is_active"}


def _recheck_on_rights_change(sender, instance, created, update_fields=None, **kwargs) -> None:
    """A user saved with IT operations or ``is_active`` possibly changed (the admin saves
    every field; a login saves only ``last_login``): their open pages check their groups
    again after the commit."""
    from portal import live

    if not created and (update_fields is None or RIGHTS_FIELDS & set(update_fields)):
        live.recheck_user(instance.pk)
