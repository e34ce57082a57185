from django.contrib import admin

from jobs.models import Job, Transition


class TransitionInline(admin.TabularInline):
    model = Transition
    extra = 0
    readonly_fields = ("seq", "from_status", "to_status", "reason", "at")
    can_delete = False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "workspace",
        "status",
        "compute",
        "instance_type",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "workspace")
    search_fields = ("name", "display_name", "experiment_name")
    readonly_fields = (
        "spec_yaml",
        "spec",
        "status",
        "status_reason",
        "cluster_uid",
        "submit_attempts",
        "code_token_hash",
    )
    inlines = [TransitionInline]
