"""Every label key (and annotation key) the portal puts on cluster objects, and the
selectors that find them. Spelled here once.

Objects made before this module carried ``kubeportal.io/managed-by`` instead of the
standard ``app.kubernetes.io/managed-by``; selectors therefore find a workload's objects by
a key both old and new objects carry (``kubeportal.io/job-id`` for jobs), not by managed-by.
"""

PREFIX = "kubeportal.io"

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "kubeportal"
MANAGED_LABELS = {MANAGED_BY: MANAGER}
# Selects what the portal made (objects made before the standard key was used lack it).
MANAGED = f"{MANAGED_BY}={MANAGER}"

# Namespaces of compute targets.
COMPUTE_TARGET = f"{PREFIX}/compute-target"
WORKSPACE = f"{PREFIX}/workspace"

# Every object of a job.
JOB_ID = f"{PREFIX}/job-id"
COMPUTE = f"{PREFIX}/compute"
INSTANCE_TYPE = f"{PREFIX}/instance-type"

# Annotations of a job's objects.
DISPLAY_NAME = f"{PREFIX}/display-name"
EXPERIMENT = f"{PREFIX}/experiment"

# Selects the objects of every portal job (old and new ones carry the key).
JOB_SELECTOR = JOB_ID


def namespace_labels(workspace: str) -> dict[str, str]:
    """The labels of a compute target's namespace."""
    return {**MANAGED_LABELS, COMPUTE_TARGET: "true", WORKSPACE: workspace}


def job_labels(
    job_id: int, workspace: str, target: str, instance_type: str | None = None
) -> dict[str, str]:
    """The labels of every object of a job: they tie it back to the job, its workspace,
    compute target and instance type."""
    labels = {**MANAGED_LABELS, JOB_ID: str(job_id), WORKSPACE: workspace, COMPUTE: target}
    if instance_type is not None:
        labels[INSTANCE_TYPE] = instance_type
    return labels


def job_selector(ids) -> str:
    """Selects the objects of the jobs ``ids`` (one id or several)."""
    if isinstance(ids, int | str):
        return f"{JOB_ID}={ids}"
    return f"{JOB_ID} in ({','.join(str(pk) for pk in ids)})"


def job_id_of(obj: dict) -> str | None:
    """The job id label of an object (None when it is not a job's)."""
    return ((obj.get("metadata") or {}).get("labels") or {}).get(JOB_ID)


# The claim in each compute target's namespace where outputs without a path of their own
# go (``jobs/<id>/<output>``); the portal creates it with the target unless it exists.
OUTPUTS_CLAIM = "portal-outputs"
