"""Writes of the compute app. Each saves rows, then queues the cluster work on commit."""

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from compute import credentials, quantity, tasks, usage, validation
from compute.instance_types import AZURE_API_VERSION, GROUP, VERSION
from compute.kube.client import ClusterAccess
from compute.models import (
    Cluster,
    ClusterStatus,
    ComputeRequest,
    ComputeTarget,
    ExtensionStatus,
    InstanceType,
    RequestKind,
    RequestStatus,
    TargetStatus,
)
from compute.notify import broadcast_cluster, broadcast_target
from compute.operations import refresh_fit
from portal import audit
from portal.background import enqueue
from portal.errors import Conflict


def _audit(action: str, cluster: Cluster, summary: str) -> None:
    audit.record(
        action=action,
        object_type="cluster",
        object_id=cluster.pk,
        object_name=cluster.name,
        summary=summary,
    )


def _audit_target(action: str, target: ComputeTarget, summary: str) -> None:
    audit.record(
        action=action,
        object_type="compute_target",
        object_id=target.pk,
        object_name=target.name,
        workspace=target.workspace,
        summary=summary,
    )


def _audit_request(action: str, request: ComputeRequest, summary: str) -> None:
    audit.record(
        action=action,
        object_type="compute_request",
        object_id=request.pk,
        object_name=request.name or (request.target.name if request.target else request.kind),
        workspace=request.workspace,
        summary=summary,
    )


@transaction.atomic
def cluster_attach(
    *, name: str, access: ClusterAccess, description: str = "", is_sandbox: bool = False
) -> Cluster:
    """Stores a cluster with encrypted credentials and queues its first check."""
    cluster = Cluster(
        name=name, description=description, server=access.server, is_sandbox=is_sandbox
    )
    cluster.credentials = credentials.seal(access.server, access.credentials)
    cluster.full_clean(exclude=["credentials"])
    cluster.save()
    _audit("attach", cluster, audit.changes(server=cluster.server, sandbox=is_sandbox))
    enqueue(tasks.cluster_check, cluster.pk)
    return cluster


@transaction.atomic
def cluster_update_credentials(*, cluster: Cluster, access: ClusterAccess) -> Cluster:
    """Points the cluster at ``access.server`` with its credentials: the only way its
    server changes (credentials are sealed with the server they are for)."""
    cluster.server = access.server
    cluster.credentials = credentials.seal(access.server, access.credentials)
    cluster.status = ClusterStatus.PENDING
    cluster.save(update_fields=["server", "credentials", "status"])
    _audit("update", cluster, audit.changes(server=cluster.server, credentials="replaced"))
    enqueue(tasks.cluster_check, cluster.pk)
    return cluster


def cluster_recheck(*, cluster: Cluster) -> None:
    _audit("recheck", cluster, "check requested")
    enqueue(tasks.cluster_check, cluster.pk)


@transaction.atomic
def cluster_delete(*, cluster: Cluster) -> None:
    """Forgets a cluster. Refused while compute targets use it (delete them first)."""
    if cluster.targets.exists():
        names = ", ".join(cluster.targets.values_list("name", flat=True))
        raise ValidationError(
            f"Cluster {cluster.name} backs compute targets ({names}); delete them first."
        )
    _audit("delete", cluster, audit.changes(server=cluster.server))
    cluster.delete()


@transaction.atomic
def extension_install(
    *, cluster: Cluster, training: bool, inference: bool, node_selector: dict
) -> None:
    """Records the extension's settings and queues the (idempotent) install."""
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
    if cluster.extension_status in {ExtensionStatus.INSTALLING, ExtensionStatus.UNINSTALLING}:
        raise ValidationError("The extension is being changed right now; wait for it to finish.")
    for key, value in node_selector.items():
        if not validation.LABEL_KEY.match(key) or not validation.LABEL_VALUE.match(value):
            raise ValidationError(
                {"workload_node_selector": f"“{key}={value}” is not a valid label"}
            )
    cluster.training_enabled = training
    cluster.inference_enabled = inference
    cluster.workload_node_selector = node_selector
    cluster.extension_status = ExtensionStatus.INSTALLING
    cluster.extension_steps = []
    cluster.save()
    _audit(
        "install-extension",
        cluster,
        audit.changes(training=training, inference=inference, node_selector=node_selector),
    )
    broadcast_cluster(cluster)
    enqueue(tasks.extension_install, cluster.pk)


@transaction.atomic
def extension_uninstall(*, cluster: Cluster) -> None:
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
    if cluster.targets.exists():
        raise ValidationError(
            "Compute targets still use this cluster; delete them before uninstalling the extension."
        )
    cluster.extension_status = ExtensionStatus.UNINSTALLING
    cluster.extension_steps = []
    cluster.save(update_fields=["extension_status", "extension_steps"])
    _audit("uninstall-extension", cluster, "")
    broadcast_cluster(cluster)
    enqueue(tasks.extension_uninstall, cluster.pk)


# ---- instance types -------------------------------------------------------------------


@transaction.atomic
def instance_type_save(
    *,
    cluster: Cluster,
    name: str,
    node_selector: dict,
    requests: dict,
    limits: dict,
    description: str = "",
    instance: InstanceType | None = None,
) -> InstanceType:
    """Creates or edits an instance type on one cluster and queues writing it to the cluster."""
    validation.instance_type_name(name)
    normal = validation.instance_type_spec(
        node_selector=node_selector, requests=requests, limits=limits
    )
    if not cluster.extension_installed:
        raise ValidationError(
            {"cluster": f"Install the extension on {cluster.name} first; it defines InstanceType."}
        )
    if instance is None:
        if InstanceType.objects.filter(cluster=cluster, name=name).exists():
            raise ValidationError(
                {"name": f"Cluster {cluster.name} already has an instance type named {name}."}
            )
        instance = InstanceType(cluster=cluster, name=name, origin=InstanceType.Origin.PORTAL)
    elif instance.name != name:
        raise ValidationError({"name": "An instance type cannot be renamed; create a new one."})
    narrowing = cluster.workload_node_selector
    conflicting = [k for k, v in narrowing.items() if k in node_selector and node_selector[k] != v]
    if conflicting:
        raise ValidationError(
            {
                "nodeSelector": f"conflicts with the extension's workload node selector on {', '.join(conflicting)}"
            }
        )
    instance.description = description
    instance.node_selector = node_selector
    instance.requests = normal["requests"]
    instance.limits = normal["limits"]
    instance.sync_state = "pending"
    instance.sync_message = "Writing to the cluster…"
    created = instance.pk is None
    instance.save()
    audit.record(
        action="create" if created else "update",
        object_type="instance_type",
        object_id=instance.pk,
        object_name=f"{cluster.name}/{name}",
        summary=audit.changes(
            node_selector=node_selector, requests=normal["requests"], limits=normal["limits"]
        ),
    )
    refresh_fit(cluster=cluster, instance_types=[instance])
    enqueue(tasks.instance_type_push, instance.pk)
    return instance


def instance_types_import(*, cluster: Cluster, text: str) -> list[InstanceType]:
    """Imports InstanceType / InstanceTypeList YAML (the portal's or Azure ML's apiVersion)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValidationError({"manifest": f"Not valid YAML{where}."}) from None
    items = []
    for doc in docs:
        if not isinstance(doc, dict):
            raise ValidationError(
                {"manifest": "Each document must be an InstanceType or InstanceTypeList mapping."}
            )
        if doc.get("kind") == "InstanceTypeList":
            items.extend(doc.get("items") or [])
        else:
            items.append(doc)
    saved = []
    with transaction.atomic():
        for index, item in enumerate(items):
            where = f"item {index + 1}"
            if item.get("kind") != "InstanceType" or item.get("apiVersion") not in {
                f"{GROUP}/{VERSION}",
                AZURE_API_VERSION,
            }:
                raise ValidationError(
                    {
                        "manifest": f"{where}: expected kind InstanceType with apiVersion {GROUP}/{VERSION} or {AZURE_API_VERSION}."
                    }
                )
            spec = item.get("spec") or {}
            resources = spec.get("resources") or {}
            name = (item.get("metadata") or {}).get("name", "")
            existing = InstanceType.objects.filter(cluster=cluster, name=name).first()
            try:
                saved.append(
                    instance_type_save(
                        cluster=cluster,
                        name=name,
                        node_selector=spec.get("nodeSelector") or {},
                        requests=resources.get("requests") or {},
                        limits=resources.get("limits") or {},
                        instance=existing,
                    )
                )
            except ValidationError as exc:
                raise ValidationError(
                    {"manifest": [f"{where} ({name or 'no name'}): {m}" for m in _flatten(exc)]}
                ) from None
    return saved


def _flatten(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [
            f"{field}: {message}"
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    return exc.messages


@transaction.atomic
def instance_type_delete(*, instance: InstanceType) -> None:
    """Deletes an instance type; refused while live work uses it (naming that work)."""
    in_use = usage.users_of(instance)
    if in_use:
        names = ", ".join(in_use[:5])
        raise ValidationError(
            f"Instance type {instance.name} is used by running work ({names}); wait for it to finish or cancel it."
        )
    enqueue(tasks.instance_type_remove, instance.cluster_id, instance.name)
    audit.record(
        action="delete",
        object_type="instance_type",
        object_id=instance.pk,
        object_name=f"{instance.cluster.name}/{instance.name}",
    )
    instance.delete()


# ---- compute targets -----------------------------------------------------------------------


@transaction.atomic
def target_create(
    *,
    workspace,
    cluster: Cluster,
    name: str,
    namespace: str,
    create_namespace: bool,
    created_by=None,
    quota_cpu: str = "",
    quota_memory: str = "",
    quota_gpu: int | None = None,
    quota_pods: int | None = None,
    allowed_instance_types=(),
    description: str = "",
) -> ComputeTarget:
    """Creates a compute target and queues its provisioning (namespace, quota)."""
    if cluster.extension_status not in {ExtensionStatus.INSTALLED, ExtensionStatus.INSTALLING}:
        raise ValidationError(
            {"cluster": f"Install the extension on {cluster.name} before creating compute targets."}
        )
    if ComputeTarget.objects.filter(workspace=workspace, name=name).exists():
        raise ValidationError(
            {"name": f"Workspace {workspace.slug} already has a compute target named {name}."}
        )
    if cluster.namespaces and namespace not in cluster.namespaces and not create_namespace:
        raise ValidationError(
            {
                "namespace": f"Namespace {namespace} does not exist in {cluster.name}. Tick “create the namespace” or pick an existing one."
            }
        )
    validation.quota(cpu=quota_cpu, memory=quota_memory)
    target = ComputeTarget(
        workspace=workspace,
        cluster=cluster,
        name=name,
        namespace=namespace,
        description=description,
        quota_cpu=quota_cpu,
        quota_memory=quota_memory,
        quota_gpu=quota_gpu,
        quota_pods=quota_pods,
        created_by=created_by,
        status=TargetStatus.CREATING,
        status_reason="Checking the namespace…",
    )
    target.full_clean()
    target.save()
    bad = [it.name for it in allowed_instance_types if it.cluster_id != cluster.pk]
    if bad:
        raise ValidationError(
            {"allowed_instance_types": f"{', '.join(bad)} belong to another cluster."}
        )
    target.allowed_instance_types.set(allowed_instance_types)
    _audit_target(
        "create",
        target,
        audit.changes(
            cluster=cluster.name,
            namespace=namespace,
            quota_cpu=quota_cpu,
            quota_memory=quota_memory,
            quota_gpu=quota_gpu,
            quota_pods=quota_pods,
            allowed_instance_types=[it.name for it in allowed_instance_types],
        ),
    )
    broadcast_target(target)
    enqueue(tasks.target_provision, target.pk, create_namespace)
    return target


@transaction.atomic
def target_set_quota(
    *,
    target: ComputeTarget,
    quota_cpu: str,
    quota_memory: str,
    quota_gpu: int | None,
    quota_pods: int | None,
) -> ComputeTarget:
    """Changes the quota; refused when the new value is below what is in use now."""
    validation.quota(cpu=quota_cpu, memory=quota_memory)
    proposed = ComputeTarget(
        quota_cpu=quota_cpu, quota_memory=quota_memory, quota_gpu=quota_gpu, quota_pods=quota_pods
    ).quota_spec()
    errors = {}
    field_of = {
        "requests.cpu": "quota_cpu",
        "limits.cpu": "quota_cpu",
        "requests.memory": "quota_memory",
        "limits.memory": "quota_memory",
        "requests.nvidia.com/gpu": "quota_gpu",
        "pods": "quota_pods",
    }
    for key, hard in proposed.items():
        used = target.quota_used.get(key)
        if used and quantity.parse(used) > quantity.parse(hard):
            errors.setdefault(
                field_of[key],
                f"{key} is {used} in use now, more than {hard}; wait for work to finish or choose at least {used}",
            )
    if errors:
        raise ValidationError(errors)
    target.quota_cpu, target.quota_memory, target.quota_gpu, target.quota_pods = (
        quota_cpu,
        quota_memory,
        quota_gpu,
        quota_pods,
    )
    target.save(update_fields=["quota_cpu", "quota_memory", "quota_gpu", "quota_pods"])
    _audit_target(
        "set-quota",
        target,
        audit.changes(
            quota_cpu=quota_cpu,
            quota_memory=quota_memory,
            quota_gpu=quota_gpu,
            quota_pods=quota_pods,
        ),
    )
    enqueue(tasks.target_apply_quota, target.pk)
    return target


@transaction.atomic
def target_delete(*, target: ComputeTarget) -> None:
    """Deletes a target (its namespace is left in the cluster: it may hold data). Raises
    Conflict while work (jobs) still refers to it."""
    try:
        with transaction.atomic():
            _audit_target("delete", target, audit.changes(namespace=target.namespace))
            target.delete()
    except ProtectedError as exc:
        raise Conflict(
            f"Compute target {target.name} is still used by {len(exc.protected_objects)} "
            "job(s) or other work; delete them first."
        ) from None


# ---- self-service requests -------------------------------------------------------------------


@transaction.atomic
def request_create(
    *,
    workspace,
    user,
    kind: str,
    justification: str,
    target: ComputeTarget | None = None,
    name: str = "",
    namespace: str = "",
    quota_cpu: str = "",
    quota_memory: str = "",
    quota_gpu: int | None = None,
    quota_pods: int | None = None,
) -> ComputeRequest:
    if kind == RequestKind.QUOTA and (target is None or target.workspace_id != workspace.pk):
        raise ValidationError({"target": "Choose one of this workspace's compute targets."})
    if kind == RequestKind.TARGET and not (name and namespace):
        raise ValidationError({"name": "A new compute target needs a name and a namespace."})
    validation.quota(cpu=quota_cpu, memory=quota_memory)
    request = ComputeRequest(
        workspace=workspace,
        requested_by=user,
        kind=kind,
        target=target,
        name=name,
        namespace=namespace,
        quota_cpu=quota_cpu,
        quota_memory=quota_memory,
        quota_gpu=quota_gpu,
        quota_pods=quota_pods,
        justification=justification,
    )
    request.full_clean()
    request.save()
    _audit_request("create", request, audit.changes(kind=kind, justification=justification))
    return request


@transaction.atomic
def request_review(
    *,
    request: ComputeRequest,
    reviewer,
    approve: bool,
    comment: str,
    cluster: Cluster | None = None,
) -> ComputeRequest:
    """Approves (carrying the request out) or declines a pending request, with a comment."""
    request = ComputeRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != RequestStatus.PENDING:
        raise ValidationError(f"This request was already {request.status.lower()}.")
    if approve:
        if request.kind == RequestKind.TARGET:
            if cluster is None:
                raise ValidationError(
                    {"cluster": "Choose the cluster that will back the new compute target."}
                )
            request.target = target_create(
                workspace=request.workspace,
                cluster=cluster,
                name=request.name,
                namespace=request.namespace,
                create_namespace=True,
                created_by=reviewer,
                quota_cpu=request.quota_cpu,
                quota_memory=request.quota_memory,
                quota_gpu=request.quota_gpu,
                quota_pods=request.quota_pods,
            )
        else:
            target_set_quota(
                target=request.target,
                quota_cpu=request.quota_cpu,
                quota_memory=request.quota_memory,
                quota_gpu=request.quota_gpu,
                quota_pods=request.quota_pods,
            )
    request.status = RequestStatus.APPROVED if approve else RequestStatus.DECLINED
    request.reviewed_by = reviewer
    request.review_comment = comment
    request.reviewed_at = timezone.now()
    request.save()
    _audit_request("approve" if approve else "decline", request, audit.changes(comment=comment))
    return request
