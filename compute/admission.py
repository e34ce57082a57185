"""The one placement check: may this work run on that compute target, and with what.

``admit`` takes a workspace, a compute target name, an instance type name (or none, for the
default) and an instance count, and answers what was admitted — the instance type's name,
requests, limits, node selector and tolerations, frozen as they are now — with warnings
(it will wait for quota). A workload stores the ``Admission`` and renders its objects from
it, so an instance type edited or deleted later changes nothing already admitted. Job
submission uses it now; deployments and queues next. Everything comes from the database
(the portal's picture of its clusters): no cluster is asked.
"""

from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef

from compute import fit as fitmod
from compute import quantity
from compute.instance_types import DEFAULT_INSTANCE_TYPE
from compute.models import ComputeTarget, InstanceType, TargetStatus

# Which cluster switch a kind of work needs.
WORKLOADS = {"training": "training_enabled", "inference": "inference_enabled"}


@dataclass(frozen=True)
class Admission:
    """What a workload was admitted with; stored with it (``as_dict``) and rendered from."""

    instance_type: str
    instance_count: int
    requests: dict
    limits: dict
    node_selector: dict = field(default_factory=dict)
    tolerations: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Admission":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})

    def instance_type_manifest(self) -> dict:
        """The instance type as manifests take it: name, nodeSelector, resources, tolerations."""
        return {
            "name": self.instance_type,
            "nodeSelector": dict(self.node_selector),
            "resources": {"requests": dict(self.requests), "limits": dict(self.limits)},
            "tolerations": [dict(t) for t in self.tolerations],
        }


def default_admission(count: int = 1) -> Admission:
    """The built-in default instance type's admission (a cluster without one of its own)."""
    resources = DEFAULT_INSTANCE_TYPE["resources"]
    return Admission(
        instance_type=DEFAULT_INSTANCE_TYPE["name"],
        instance_count=count,
        requests=dict(resources["requests"]),
        limits=dict(resources["limits"]),
    )


def admit(
    *,
    workspace,
    target_name: str,
    instance_type: str | None,
    count: int,
    workload: str = "training",
) -> tuple[ComputeTarget, Admission, list[str]]:
    """Checks the target, instance type, fit, capacity and quota for ``count`` instances.

    Returns (target, admission, warnings). Raises ValidationError keyed by the spec's field
    path (``compute``, ``resources.instance_type``, ``resources.instance_count``) with a
    sentence that says what to do. Two queries when all is well.
    """
    target = _target(workspace, target_name, workload)
    row = _instance_type(target, instance_type)
    if row is None:
        admission = default_admission(count)
    else:
        if not row.fitting_nodes and target.cluster.nodes.exists():
            raise ValidationError(
                {
                    "resources.instance_type": f"No node of cluster {target.cluster.name} can hold instance type {row.name}; ask IT operations for a smaller one."
                }
            )
        if row.capacity_slots and count > row.capacity_slots:
            raise ValidationError(
                {
                    "resources.instance_count": f"{count} instances of {row.name} never fit at once: the cluster holds at most {row.capacity_slots}."
                }
            )
        admission = Admission(
            instance_type=row.name,
            instance_count=count,
            requests=dict(row.requests),
            limits=dict(row.limits),
            node_selector=dict(row.node_selector),
        )
    return target, admission, _quota_warnings(target, admission)


def _target(workspace, name: str, workload: str) -> ComputeTarget:
    target = (
        ComputeTarget.objects.select_related("cluster")
        .filter(workspace=workspace, name=name)
        .first()
    )
    if target is None:
        others = ", ".join(workspace.compute_targets.values_list("name", flat=True)) or "none yet"
        raise ValidationError(
            {
                "compute": f"Workspace {workspace.slug} has no compute target “{name}” (its targets: {others})."
            }
        )
    if target.status == TargetStatus.FAILED:
        raise ValidationError(
            {"compute": f"Compute target {target.name} is not usable: {target.status_reason}"}
        )
    if not getattr(target.cluster, WORKLOADS[workload]):
        raise ValidationError(
            {
                "compute": f"{workload.capitalize()} is switched off on cluster {target.cluster.name}."
            }
        )
    return target


def _instance_type(target: ComputeTarget, name: str | None) -> InstanceType | None:
    """The instance type ``name`` (the default when None) if the target allows it, in one
    query. None for the default when the cluster has no row of it; ValidationError for a
    named type the target does not allow."""
    through = ComputeTarget.allowed_instance_types.through
    listed = through.objects.filter(computetarget_id=target.pk)
    row = (
        InstanceType.objects.filter(
            cluster_id=target.cluster_id, name=name or DEFAULT_INSTANCE_TYPE["name"]
        )
        .annotate(
            restricted=Exists(listed),
            allowed=Exists(listed.filter(instancetype_id=OuterRef("pk"))),
        )
        .first()
    )
    if row is not None and (row.allowed or not row.restricted):
        return row
    if name is None:
        return None
    choices = ", ".join(target.usable_instance_types().values_list("name", flat=True)) or "none"
    raise ValidationError(
        {
            "resources.instance_type": f"Instance type “{name}” is not allowed on {target.name} (allowed: {choices})."
        }
    )


def _quota_warnings(target: ComputeTarget, admission: Admission) -> list[str]:
    """Refuses what the target's quota can never hold; warns about what must wait for it."""
    wanted = fitmod.demand(admission.requests, admission.limits)
    count = admission.instance_count
    warnings = []
    for key, hard in target.quota_hard.items():
        resource = key.removeprefix("requests.").removeprefix("limits.")
        per_pod = wanted.get(resource) if resource != "pods" else 1
        if per_pod is None:
            continue
        total = quantity.parse(per_pod) * count
        if total > quantity.parse(hard):
            raise ValidationError(
                {
                    "resources.instance_count": f"The job needs {quantity.format_resource(resource, total)} {resource} but the quota of {target.name} allows {hard}; ask your workspace admin for more."
                }
            )
        used = quantity.parse(target.quota_used.get(key, 0))
        if used + total > quantity.parse(hard):
            warnings.append(
                f"It will wait for quota in {target.namespace}: {key} {target.quota_used.get(key)} of {hard} in use."
            )
    return warnings
