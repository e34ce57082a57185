from django.contrib import admin
from django.core.exceptions import ValidationError

from compute import services, tasks, validation
from compute.models import Cluster, ComputeRequest, ComputeTarget, InstanceType, Node
from portal.background import enqueue


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    """Clusters are attached (server and credentials together) on the Clusters page; here
    their server is read-only, since a new server needs its credentials again."""

    list_display = ("name", "server", "status", "extension_status", "node_count", "last_checked_at")
    # Credentials are write-only: never listed, never shown in the form.
    exclude = ("credentials",)
    readonly_fields = (
        "server",
        "status",
        "status_reason",
        "missing_permissions",
        "server_version",
        "node_count",
        "last_checked_at",
        "last_synced_at",
        "extension_status",
        "extension_steps",
        "namespaces",
    )

    def has_add_permission(self, request) -> bool:
        return False  # attach on the Clusters page, which takes the credentials


@admin.register(ComputeTarget)
class ComputeTargetAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "cluster", "namespace", "status")
    list_filter = ("cluster", "workspace")
    readonly_fields = ("status", "status_reason", "quota_used", "quota_hard")


@admin.register(InstanceType)
class InstanceTypeAdmin(admin.ModelAdmin):
    """Edits here are written to the cluster by the next sync (rows become pending)."""

    list_display = ("name", "cluster", "origin", "sync_state", "free_slots", "capacity_slots")
    list_filter = ("cluster", "origin")
    readonly_fields = (
        "origin",
        "sync_state",
        "sync_message",
        "resource_version",
        "fitting_nodes",
        "free_slots",
        "capacity_slots",
    )

    def save_model(self, request, obj, form, change):
        try:
            validation.instance_type_name(obj.name)
            validation.instance_type_spec(
                node_selector=obj.node_selector, requests=obj.requests, limits=obj.limits
            )
        except ValidationError as exc:
            self.message_user(request, f"Not saved: {exc}", level="error")
            return
        obj.sync_state = "pending"
        super().save_model(request, obj, form, change)
        enqueue(tasks.instance_type_push, obj.pk)

    def delete_model(self, request, obj):
        services.instance_type_delete(instance=obj)


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("name", "cluster", "pool", "ready", "pod_count")
    list_filter = ("cluster", "pool")


@admin.register(ComputeRequest)
class ComputeRequestAdmin(admin.ModelAdmin):
    list_display = ("workspace", "kind", "status", "requested_by", "created_at")
    list_filter = ("status", "kind")
