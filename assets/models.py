"""What work is made from: environments (container images), code archives and models, per
workspace."""

import uuid

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


class ModelType(models.TextChoices):
    CUSTOM = "custom_model"
    MLFLOW = "mlflow_model"


class SourceKind(models.TextChoices):
    UPLOAD = "upload"  # files uploaded (kp packs a local file or folder)
    RUN = "run"  # copied from a run's artifacts
    URL = "url"  # an http(s) URL, fetched where the model is used
    PVC = "pvc"  # a path on a persistent volume claim, mounted where the model is used


class Model(models.Model):
    """One version of a named model. Its files, when the portal holds them (uploads, runs'
    artifacts), are on the artifacts storage under ``models/ws-<workspace>/<folder>/``; a URL
    or claim is only recorded. Lineage is kept as plain names (the job, the run), resolved
    by the apps that own them."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=64)
    type = models.CharField(max_length=20, choices=ModelType.choices, default=ModelType.CUSTOM)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    archived = models.BooleanField(default=False)
    source_kind = models.CharField(max_length=10, choices=SourceKind.choices)
    # What it was created from, as given: "upload", runs:/..., azureml://jobs/..., a URL, pvc://...
    source = models.TextField()
    folder = models.UUIDField(default=uuid.uuid4, editable=False)
    # Files held by the portal: [{"path": "model/MLmodel", "size": 123}, ...], sorted by path.
    files = models.JSONField(default=list, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    job_name = models.CharField(max_length=63, blank=True)
    run_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["name", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name", "version"], name="model_version")
        ]
        indexes = [models.Index(fields=["workspace", "name", "-created_at"], name="model_ws_name")]

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def reference(self) -> str:
        """How a spec refers to this version: ``azureml:<name>:<version>``."""
        return f"azureml:{self.name}:{self.version}"

    @property
    def holds_files(self) -> bool:
        """True when the portal stores the files (else they are at ``source``)."""
        return self.source_kind in (SourceKind.UPLOAD, SourceKind.RUN)

    @property
    def storage_prefix(self) -> str:
        return f"models/ws-{int(self.workspace_id)}/{self.folder.hex}"
