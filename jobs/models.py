"""Jobs (training and batch), their transitions, instances, logs and events."""

from django.conf import settings
from django.db import models

from compute.models import ComputeTarget
from portal.models import AccessQuerySet, Workspace


class Status(models.TextChoices):
    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCEL_REQUESTED = "CancelRequested"
    CANCELED = "Canceled"


def object_name(job_id: int) -> str:
    """Returns the DNS-safe name shared by the Job, its Service and (with "-code") its Secret."""
    return f"kp-job-{job_id}"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELED})
LIVE = frozenset(set(Status.values) - TERMINAL)


class JobQuerySet(AccessQuerySet):
    def live(self):
        return self.filter(status__in=LIVE)

    def live_using_instance_type(self, instance_type):
        return self.live().filter(
            compute__cluster_id=instance_type.cluster_id, instance_type=instance_type.name
        )


class Job(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="jobs")
    name = models.CharField(max_length=63)
    display_name = models.CharField(max_length=255, blank=True)
    experiment_name = models.CharField(max_length=255, default="Default")
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    compute = models.ForeignKey(ComputeTarget, on_delete=models.PROTECT, related_name="jobs")
    instance_type = models.CharField(max_length=253)
    instance_count = models.PositiveIntegerField(default=1)
    # What compute admitted it with (``compute.admission.Admission``): the instance type's
    # name, requests, limits, node selector and tolerations as they were at submission; its
    # objects are rendered from this, never from the instance type as it is later.
    admission = models.JSONField(default=dict)
    priority = models.CharField(max_length=10, default="medium")
    spec_yaml = models.TextField(help_text="The spec exactly as submitted.")
    spec = models.JSONField(help_text="The normalised spec the manifests are rendered from.")
    image = models.CharField(max_length=500)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_STARTED)
    status_reason = models.TextField(blank=True)
    submit_attempts = models.PositiveIntegerField(default=0)
    cluster_uid = models.CharField(max_length=64, blank=True)
    code_token_hash = models.CharField(max_length=64, blank=True)
    code_token_expires = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cloned_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The job's MLflow run (created at submission; its status follows the job's).
    run = models.OneToOneField(
        "tracking.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="job"
    )

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="job_name_per_workspace")
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="job_ws_created"),
            models.Index(fields=["workspace", "status", "-created_at"], name="job_ws_status"),
            models.Index(
                fields=["workspace", "experiment_name", "-created_at"], name="job_ws_experiment"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def object_name(self) -> str:
        return object_name(self.pk)


class Transition(models.Model):
    """One status change of a job, stored once, in order."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="transitions")
    seq = models.PositiveIntegerField()
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="transition_order")]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class Instance(models.Model):
    """One pod of a (possibly distributed) job, as last seen."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="instances")
    index = models.PositiveIntegerField()
    pod = models.CharField(max_length=253, blank=True)
    node = models.CharField(max_length=253, blank=True)
    phase = models.CharField(max_length=20, blank=True)
    state = models.CharField(max_length=40, blank=True)
    reason = models.TextField(blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    restarts = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="instance_per_index")]

    def __str__(self) -> str:
        return f"{self.job} #{self.index}"


class InstanceLog(models.Model):
    """One container's log of one instance, kept by the portal (survives pod deletion)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="logs")
    index = models.PositiveIntegerField()
    container = models.CharField(max_length=63, default="main")
    # The copy is ``text`` then ``tail``: new lines go to the short ``tail``, folded into
    # ``text`` (and the cap applied) once it holds FOLD_AT bytes, so following a chatty job
    # rewrites a few hundred kB a pass rather than the whole log (``jobs/logcopy.py``).
    text = models.TextField(blank=True)
    tail = models.TextField(blank=True, default="")
    truncated = models.BooleanField(default=False)
    # Where the copy ends in the cluster's log: the timestamp of its last line (nanoseconds
    # since the epoch, 0 before the first copy) and how many of its lines carry exactly
    # that timestamp. The next copy asks for what came since and skips those.
    cursor_ns = models.BigIntegerField(default=0)
    cursor_lines = models.PositiveIntegerField(default=0)
    # The instance's restarts at the last copy: more now, and the previous container's
    # last lines are fetched before the current one's.
    restarts = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["index", "container"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index", "container"], name="log_per_container")
        ]

    def __str__(self) -> str:
        return f"log of {self.job} #{self.index} {self.container}"

    @property
    def full_text(self) -> str:
        return self.text + self.tail


class JobEvent(models.Model):
    """A Kubernetes event about a job's Job or pods, as last seen (one row per event uid)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    uid = models.CharField(max_length=64)
    type = models.CharField(max_length=20, blank=True)
    reason = models.CharField(max_length=128, blank=True)
    message = models.TextField(blank=True)
    object = models.CharField(max_length=253, blank=True, help_text="Pod or Job name.")
    count = models.PositiveIntegerField(default=1)
    first_timestamp = models.DateTimeField(null=True, blank=True)
    last_timestamp = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "first_timestamp", "id"]
        constraints = [models.UniqueConstraint(fields=["job", "uid"], name="event_per_job")]

    def __str__(self) -> str:
        return f"{self.type} {self.reason} on {self.object}"
