from django.contrib import admin

from assets.models import Environment


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "image", "workspace")
