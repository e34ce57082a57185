"""What work is made from: environments (container images) and code archives, per workspace.

Models and artifacts join them in their own issues.
"""

from django.conf import settings
from django.db import models

from assets.references import code_reference
from portal.models import AccessQuerySet, Workspace


class Environment(models.Model):
    """A named, versioned container image registered in a workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=64)
    image = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["name", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name", "version"], name="environment_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


class CodeArchive(models.Model):
    """An uploaded code folder, stored once by content (sha256) and shared within a workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="code_archives")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    files = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "sha256"], name="code_per_workspace")
        ]

    def __str__(self) -> str:
        return self.sha256[:12]

    @property
    def reference(self) -> str:
        """The ``code`` value of a job spec that refers to this archive."""
        return code_reference(self.sha256)
