from django.contrib.admin import AdminSite, ModelAdmin

from portal import audit


def _workspace_of(obj):
    if obj._meta.label == "portal.Workspace":
        return obj
    workspace = getattr(obj, "workspace", None)
    return (
        workspace
        if getattr(workspace, "_meta", None) and workspace._meta.label == "portal.Workspace"
        else None
    )


def _fields_changed(message) -> str:
    """What Django's change message says changed: field names only, never values."""
    if not isinstance(message, list):
        return str(message or "")[:200]
    parts = []
    for entry in message:
        for kind, detail in entry.items():
            fields = ", ".join(detail.get("fields", [])) if isinstance(detail, dict) else ""
            name = detail.get("name", "") if isinstance(detail, dict) else ""
            parts.append(" ".join(p for p in (kind, name, fields and f"({fields})") if p))
    return "; ".join(parts)


class AuditedAdmin:
    """Puts every add, change and delete made in the admin into the audit log (as well as
    Django's own admin log)."""

    def _audit(self, action: str, obj, summary: str = "") -> None:
        audit.record(
            action=action,
            object_type=obj._meta.model_name,
            object_id=obj.pk,
            object_name=str(obj),
            workspace=_workspace_of(obj),
            summary=summary,
            via="admin",
        )

    def log_addition(self, request, obj, message):
        self._audit("create", obj, _fields_changed(message))
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit("update", obj, _fields_changed(message))
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit("delete", obj)
        return super().log_deletions(request, queryset)


class PortalAdminSite(AdminSite):
    site_header = "Kube portal administration"
    site_title = "Kube portal admin"

    def has_permission(self, request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_authenticated and user.is_itops and user.is_staff)

    def register(self, model_or_iterable, admin_class=None, **options):
        """Registers as usual, with every model admin audited (``AuditedAdmin``)."""
        base = admin_class or ModelAdmin
        if not issubclass(base, AuditedAdmin):
            base = type(base.__name__, (AuditedAdmin, base), {"__module__": base.__module__})
        return super().register(model_or_iterable, base, **options)
