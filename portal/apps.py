import os

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from celery import signals as celery_signals
        from django.conf import settings
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_save

        from portal import audit, db, health, sso
        from portal.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from portal.live import LiveKind, recheck_user
        from portal.models import User, Workspace
        from portal.nav import NavItem
        from portal.registry import registry
        from portal.signin import count_failed_login

        os.register_at_fork(after_in_child=db.forget_pools_after_fork)
        registry.add(
            NavItem("Home", "home", audience="all", order=0),
            NavItem("Workspaces", "workspace-list", audience="all", order=80),
            NavItem("API tokens", "token-list", audience="all", order=90),
            NavItem("All API tokens", "user-token-list", audience="itops", order=95),
            NavItem("Audit log", "audit-list", audience="admin", order=96),
            NavItem("Admin panel", "admin:index", audience="itops", order=99),
            LiveKind(
                "portal.workspace",
                lambda user, pk: Workspace.objects.visible_to(user).filter(pk=pk).exists(),
            ),
        )

        def recheck_on_rights_change(sender, instance, created, update_fields=None, **kwargs):
            """A user saved with IT operations or ``is_active`` possibly changed (the admin
            saves every field; a login saves only ``last_login``): their open pages check
            their groups again after the commit."""
            if not created and (update_fields is None or RIGHTS_FIELDS & set(update_fields)):
                recheck_user(instance.pk)

        post_save.connect(
            recheck_on_rights_change, sender=User, weak=False, dispatch_uid="live-recheck"
        )
        user_login_failed.connect(count_failed_login, dispatch_uid="signin-address-failures")
        user_logged_in.connect(audit.on_login, dispatch_uid="audit-login")
        if settings.SSO_ENABLED:
            sso.parse_group_map(settings.OIDC_GROUP_MAP)  # a bad map stops the start
        user_logged_out.connect(audit.on_logout, dispatch_uid="audit-logout")
        # A worker's and beat's /healthz, /readyz and /metrics on PORTAL_PROBE_PORT (a worker:
        # from its main process, once its pool is up).
        for signal in (celery_signals.worker_ready, celery_signals.beat_init):
            signal.connect(health.serve_probes_on_signal, weak=False)


class PortalAdminConfig(AdminConfig):
    """The Django admin, open to IT operations only."""

    default_site = "portal.admin_site.PortalAdminSite"


RIGHTS_FIELDS = {"is_itops", "is_active"}
