from django.contrib import admin

from assets.models import Environment, Model


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "image", "workspace")


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "type", "source_kind", "archived", "workspace")
    readonly_fields = ("folder", "files", "size", "source", "source_kind", "job_name", "run_id")
