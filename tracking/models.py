"""The tracking store: experiments, runs, their params, tags and metric points, inputs,
and the models MLflow 3 logs (``LoggedModel``).

Times are MLflow's: integer milliseconds since the epoch. Metric points are the big table
(tens of millions of rows): one row per point, bulk-inserted, with one index for a key's
history by step and one by time; ``LatestMetric`` keeps the latest point per run and key so
list and search pages never scan the points.
"""

import time
import uuid

from django.conf import settings
from django.db import models

from portal.models import AccessQuerySet, Workspace


def now_ms() -> int:
    return int(time.time() * 1000)


def new_run_id() -> str:
    return uuid.uuid4().hex


def new_model_id() -> str:
    return "m-" + uuid.uuid4().hex


class Lifecycle(models.TextChoices):
    ACTIVE = "active"
    DELETED = "deleted"


class RunStatus(models.TextChoices):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


ENDED = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED})


class Experiment(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=500)
    lifecycle_stage = models.CharField(
        max_length=10, choices=Lifecycle.choices, default=Lifecycle.ACTIVE
    )
    tags = models.JSONField(default=dict, blank=True)
    creation_time = models.BigIntegerField(default=now_ms)
    last_update_time = models.BigIntegerField(default=now_ms)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="experiment_name_per_ws")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def experiment_id(self) -> str:
        return str(self.pk)

    @property
    def artifact_location(self) -> str:
        return f"mlflow-artifacts:/{self.pk}"


class RunQuerySet(AccessQuerySet):
    def active(self):
        return self.filter(lifecycle_stage=Lifecycle.ACTIVE)


class Run(models.Model):
    """One MLflow run: a portal job's (``source`` "job", created at submission) or one made
    from outside, a notebook with the tracking URI set ("external")."""

    run_id = models.CharField(max_length=32, unique=True, default=new_run_id)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="runs")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=250, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    start_time = models.BigIntegerField(default=now_ms)
    end_time = models.BigIntegerField(null=True, blank=True)
    lifecycle_stage = models.CharField(
        max_length=10, choices=Lifecycle.choices, default=Lifecycle.ACTIVE
    )
    user_id = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=10, default="external")
    # The job-scoped token's hash (only a job's run has one): it may write this run alone.
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-start_time", "-id"]
        indexes = [
            models.Index(fields=["experiment", "-start_time"], name="run_exp_start"),
        ]

    def __str__(self) -> str:
        return self.name or self.run_id

    @property
    def artifact_uri(self) -> str:
        return f"mlflow-artifacts:/{self.experiment_id}/{self.run_id}/artifacts"

    @property
    def artifact_root(self) -> str:
        """Where the run's artifacts are in the proxy's path space."""
        return f"{self.experiment_id}/{self.run_id}/artifacts"

    @property
    def is_ended(self) -> bool:
        return self.status in ENDED


class Param(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="params")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="param_per_run")]

    def __str__(self) -> str:
        return f"{self.key}={self.value[:40]}"


class RunTag(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="tag_per_run")]

    def __str__(self) -> str:
        return f"{self.key}={self.value[:40]}"


class Metric(models.Model):
    """One logged point. NaN is kept as MLflow's stores keep it (``is_nan``, value 0), since
    not every database stores a NaN; ±inf are stored as they are."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=250)
    step = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField()
    value = models.FloatField()
    is_nan = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # The value in the step index makes it cover the downsampling query.
            models.Index(fields=["run", "key", "step", "value"], name="metric_by_step"),
            models.Index(fields=["run", "key", "timestamp"], name="metric_by_time"),
        ]

    def __str__(self) -> str:
        return f"{self.key}@{self.step}={self.value}"


class MetricRollup(models.Model):
    """A block of a metric's points summarised (minimum, maximum, sum, count), at a few
    block sizes along the steps, kept up to date as points arrive. A chart of a long series
    reads a few thousand of these instead of a million points (see ``tracking.rollup``)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=250)
    size = models.IntegerField()  # steps per block
    block = models.BigIntegerField()  # step // size
    first_step = models.BigIntegerField()
    first_timestamp = models.BigIntegerField()
    low = models.FloatField()
    high = models.FloatField()
    total = models.FloatField()
    count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "key", "size", "block"], name="rollup_per_block")
        ]

    def __str__(self) -> str:
        return f"{self.key} steps {self.block * self.size}+{self.size}"


class LatestMetric(models.Model):
    """The latest point of each run and key (largest step, then timestamp, then value)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="latest_metrics")
    key = models.CharField(max_length=250)
    step = models.BigIntegerField()
    timestamp = models.BigIntegerField()
    value = models.FloatField()
    is_nan = models.BooleanField(default=False)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="latest_per_key")]
        indexes = [models.Index(fields=["key", "value"], name="latest_key_value")]

    def __str__(self) -> str:
        return f"{self.key}@{self.step}={self.value}"


class RunInput(models.Model):
    """A dataset or model input logged with ``log-inputs``, stored as sent."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="inputs")
    kind = models.CharField(max_length=10)  # "dataset" or "model"
    payload = models.JSONField()

    def __str__(self) -> str:
        return f"{self.kind} input of run {self.run_id}"


class LoggedModel(models.Model):
    """A model logged with MLflow 3's ``log_model`` (its ``logged-models`` endpoints)."""

    model_id = models.CharField(max_length=40, unique=True, default=new_model_id)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="models")
    source_run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="logged_models"
    )
    name = models.CharField(max_length=250)
    model_type = models.CharField(max_length=250, blank=True)
    status = models.CharField(max_length=30, default="LOGGED_MODEL_PENDING")
    status_message = models.TextField(blank=True)
    lifecycle_stage = models.CharField(
        max_length=10, choices=Lifecycle.choices, default=Lifecycle.ACTIVE
    )
    tags = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    creator = models.CharField(max_length=150, blank=True)
    creation_timestamp_ms = models.BigIntegerField(default=now_ms)
    last_updated_timestamp_ms = models.BigIntegerField(default=now_ms)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["-creation_timestamp_ms"]

    def __str__(self) -> str:
        return f"{self.name} ({self.model_id})"

    @property
    def artifact_root(self) -> str:
        return f"{self.experiment_id}/models/{self.model_id}/artifacts"

    @property
    def artifact_location(self) -> str:
        return f"mlflow-artifacts:/{self.artifact_root}"
