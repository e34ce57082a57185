"""Clusters, the cluster extension, compute targets, instance types, nodes and requests.

The rows here are the portal's picture of its clusters: pages and the API read
them; only tasks (through ``compute.gateway``) talk to a cluster and update them.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from compute import quantity
from portal.models import AccessQuerySet, Action, Workspace, dns_label

TRACKED = ("cpu", "memory", "nvidia.com/gpu")


class ClusterStatus(models.TextChoices):
    PENDING = "Pending", "Pending first check"
    CONNECTED = "Connected", "Connected"
    DEGRADED = "Degraded", "Degraded"
    UNAUTHORIZED = "Unauthorized", "Unauthorized"
    UNREACHABLE = "Unreachable", "Unreachable"


class ExtensionStatus(models.TextChoices):
    NOT_INSTALLED = "NotInstalled", "Not installed"
    INSTALLING = "Installing", "Installing"
    INSTALLED = "Installed", "Installed"
    UNINSTALLING = "Uninstalling", "Uninstalling"
    FAILED = "Failed", "Failed"


class ClusterQuerySet(AccessQuerySet):
    """Clusters are IT operations' business: only they see them (other roles see targets)."""

    workspace_path = "targets__workspace"
    member_actions = frozenset()


class Cluster(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[dns_label])
    description = models.TextField(blank=True)
    server = models.URLField(max_length=500, help_text="API server URL (not secret).")
    # Fernet token of the JSON credentials (token, CA, client certificate). Never rendered.
    credentials = models.BinaryField(editable=False)
    is_sandbox = models.BooleanField(default=False)

    status = models.CharField(
        max_length=20, choices=ClusterStatus.choices, default=ClusterStatus.PENDING
    )
    status_reason = models.TextField(blank=True)
    missing_permissions = models.JSONField(default=list, blank=True)
    server_version = models.CharField(max_length=60, blank=True)
    node_count = models.PositiveIntegerField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    namespaces = models.JSONField(
        default=list, blank=True, help_text="Namespace names at the last sync."
    )
    # Health: consecutive failed checks and syncs, since when, and how long the server asked
    # the portal to wait (a 429's Retry-After). compute.health decides the status from them.
    failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    backoff_until = models.DateTimeField(null=True, blank=True)
    # The uid of the cluster's kube-system namespace: a new one means the cluster was
    # recreated (or restarted empty), so what the portal made in it is gone.
    cluster_uid = models.CharField(max_length=64, blank=True)

    extension_status = models.CharField(
        max_length=20, choices=ExtensionStatus.choices, default=ExtensionStatus.NOT_INSTALLED
    )
    extension_steps = models.JSONField(default=list, blank=True)
    training_enabled = models.BooleanField(default=True)
    inference_enabled = models.BooleanField(default=True)
    workload_node_selector = models.JSONField(
        default=dict,
        blank=True,
        help_text="Labels every workload node must carry (narrows where work runs).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClusterQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_usable(self) -> bool:
        return self.status in {ClusterStatus.CONNECTED, ClusterStatus.DEGRADED}

    @property
    def extension_installed(self) -> bool:
        return self.extension_status == ExtensionStatus.INSTALLED


class TargetStatus(models.TextChoices):
    CREATING = "Creating", "Creating"
    SUCCEEDED = "Succeeded", "Ready"
    FAILED = "Failed", "Failed"
    DELETING = "Deleting", "Deleting"


class ComputeTargetQuerySet(AccessQuerySet):
    """Targets of the workspaces where the user may act; IT operations see and manage all."""


class ComputeTarget(models.Model):
    """A cluster plus a namespace, given to one workspace."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.PROTECT, related_name="compute_targets"
    )
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="targets")
    name = models.CharField(max_length=63, validators=[dns_label])
    namespace = models.CharField(max_length=63, validators=[dns_label])
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=TargetStatus.choices, default=TargetStatus.CREATING
    )
    status_reason = models.TextField(blank=True)

    quota_cpu = models.CharField(
        max_length=20, blank=True, help_text="e.g. 16 or 500m; empty: no quota"
    )
    quota_memory = models.CharField(max_length=20, blank=True, help_text="e.g. 64Gi")
    quota_gpu = models.PositiveIntegerField(null=True, blank=True)
    quota_pods = models.PositiveIntegerField(null=True, blank=True)
    quota_used = models.JSONField(default=dict, blank=True)
    quota_hard = models.JSONField(default=dict, blank=True)

    allowed_instance_types = models.ManyToManyField(
        "InstanceType",
        blank=True,
        related_name="targets",
        help_text="Leave empty to allow every instance type of the cluster.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ComputeTargetQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="target_name_per_workspace"),
            models.UniqueConstraint(
                fields=["cluster", "namespace", "workspace"],
                name="one_target_per_namespace_and_workspace",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cluster.name}/{self.namespace})"

    @property
    def has_quota(self) -> bool:
        return bool(
            self.quota_cpu
            or self.quota_memory
            or self.quota_gpu is not None
            or self.quota_pods is not None
        )

    def quota_spec(self) -> dict[str, str]:
        """The ResourceQuota ``spec.hard`` this target asks for."""
        hard: dict[str, str] = {}
        if self.quota_cpu:
            hard["requests.cpu"] = self.quota_cpu
            hard["limits.cpu"] = self.quota_cpu
        if self.quota_memory:
            hard["requests.memory"] = self.quota_memory
            hard["limits.memory"] = self.quota_memory
        if self.quota_gpu is not None:
            hard["requests.nvidia.com/gpu"] = str(self.quota_gpu)
        if self.quota_pods is not None:
            hard["pods"] = str(self.quota_pods)
        return hard

    def quota_rows(self) -> list[dict]:
        """Used against hard for each quota'd resource, for display."""
        rows = []
        for key, hard in sorted(self.quota_hard.items()):
            used = self.quota_used.get(key, "0")
            try:
                share = (
                    float(quantity.parse(used) / quantity.parse(hard))
                    if quantity.parse(hard)
                    else 0.0
                )
            except quantity.QuantityError:
                share = 0.0
            rows.append(
                {
                    "resource": key,
                    "used": used,
                    "hard": hard,
                    "percent": min(100, round(share * 100)),
                }
            )
        return rows

    def usable_instance_types(self):
        allowed = self.allowed_instance_types.all()
        if allowed.exists():
            return allowed
        return self.cluster.instance_types.all()


class InstanceTypeQuerySet(AccessQuerySet):
    """IT ops see every instance type; members see those of their workspaces' targets."""

    workspace_path = "cluster__targets__workspace"
    member_actions = frozenset({Action.VIEW})


class InstanceType(models.Model):
    """A node selector plus resource requests and limits, mirrored as an ``InstanceType`` object in its cluster."""

    class Origin(models.TextChoices):
        PORTAL = "portal", "created in the portal"
        CLUSTER = "cluster", "found in the cluster"
        DEFAULT = "default", "built-in default"

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="instance_types")
    name = models.CharField(max_length=253)
    description = models.CharField(max_length=200, blank=True)
    node_selector = models.JSONField(default=dict, blank=True)
    requests = models.JSONField(default=dict)
    limits = models.JSONField(default=dict)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.PORTAL)
    # in_cluster: the cluster has the object as we have it; pending: a write is queued.
    sync_state = models.CharField(max_length=20, default="pending")
    sync_message = models.TextField(blank=True)
    resource_version = models.CharField(max_length=40, blank=True)
    # What fits, computed from the nodes at the last sync.
    fitting_nodes = models.JSONField(default=list, blank=True)
    free_slots = models.PositiveIntegerField(default=0)
    capacity_slots = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = InstanceTypeQuerySet.as_manager()

    class Meta:
        ordering = ["cluster__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="instance_type_per_cluster")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def gpus(self) -> int:
        return int(quantity.parse(self.limits.get("nvidia.com/gpu", 0)))

    @property
    def fits_somewhere(self) -> bool:
        return bool(self.fitting_nodes)

    def as_manifest_dict(self) -> dict:
        return {
            "name": self.name,
            "nodeSelector": dict(self.node_selector),
            "resources": {"requests": dict(self.requests), "limits": dict(self.limits)},
        }


class Node(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="nodes")
    name = models.CharField(max_length=253)
    pool = models.CharField(max_length=100, blank=True)
    labels = models.JSONField(default=dict)
    taints = models.JSONField(default=list)
    capacity = models.JSONField(default=dict)
    allocatable = models.JSONField(default=dict)
    requested = models.JSONField(default=dict)
    pod_count = models.PositiveIntegerField(default=0)
    ready = models.BooleanField(default=False)
    unschedulable = models.BooleanField(default=False)
    conditions = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cluster__name", "pool", "name"]
        constraints = [models.UniqueConstraint(fields=["cluster", "name"], name="node_per_cluster")]

    def __str__(self) -> str:
        return self.name

    def free(self, resource: str) -> Decimal:
        alloc = quantity.parse(self.allocatable.get(resource, 0))
        used = quantity.parse(self.requested.get(resource, 0))
        return alloc - used

    def resource_rows(self) -> list[dict]:
        rows = []
        for resource in TRACKED:
            alloc = quantity.parse(self.allocatable.get(resource, 0))
            if not alloc and resource == "nvidia.com/gpu":
                continue
            used = quantity.parse(self.requested.get(resource, 0))
            rows.append(
                {
                    "resource": resource,
                    "allocatable": quantity.format_resource(resource, alloc),
                    "requested": quantity.format_resource(resource, used),
                    "percent": min(100, round(float(used / alloc) * 100)) if alloc else 0,
                }
            )
        return rows


class RequestKind(models.TextChoices):
    TARGET = "target", "new compute target"
    QUOTA = "quota", "quota change"


class RequestStatus(models.TextChoices):
    PENDING = "Pending", "Pending"
    APPROVED = "Approved", "Approved"
    DECLINED = "Declined", "Declined"


class ComputeRequestQuerySet(AccessQuerySet):
    """Requests of the workspaces where the user may act; IT operations review them all."""


class ComputeRequest(models.Model):
    """A workspace admin's request for a compute target or a quota change, reviewed by IT ops."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="compute_requests"
    )
    kind = models.CharField(max_length=10, choices=RequestKind.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    target = models.ForeignKey(
        ComputeTarget, null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    name = models.CharField(max_length=63, blank=True, validators=[dns_label])
    namespace = models.CharField(max_length=63, blank=True, validators=[dns_label])
    quota_cpu = models.CharField(max_length=20, blank=True)
    quota_memory = models.CharField(max_length=20, blank=True)
    quota_gpu = models.PositiveIntegerField(null=True, blank=True)
    quota_pods = models.PositiveIntegerField(null=True, blank=True)
    justification = models.TextField()
    status = models.CharField(
        max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_comment = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ComputeRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.workspace} ({self.status})"


class ClusterLease(models.Model):
    """Which watcher process watches a cluster: taken and renewed with a conditional update.

    ``holder`` empty means released; a lease past ``expires_at`` may be taken by anyone.
    """

    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="lease")
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()
    renewed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.cluster} held by {self.holder or 'nobody'} until {self.expires_at}"
