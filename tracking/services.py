"""What other apps ask of tracking: a run for each job, its job-scoped token, where its
pods reach the tracking API, and the run following the job's status."""

import secrets

from django.conf import settings
from django.urls import reverse

from tracking import artifacts, store
from tracking.auth import RUN_TOKEN_PREFIX, run_token_hash
from tracking.models import Run, RunStatus

JOB_TAG = "kp.job"


def tracking_uri(slug: str) -> str:
    """The workspace's MLflow tracking URI (the client appends ``/api/2.0/mlflow/...``)."""
    return f"{settings.PUBLIC_URL}/mlflow/{slug}"


def artifacts_url(run: Run) -> str:
    """Where the run's artifacts are uploaded through the proxy."""
    slug = run.workspace.slug
    return settings.PUBLIC_URL + reverse(
        "mlflow-artifacts", kwargs={"slug": slug, "path": run.artifact_root}
    )


def run_for_job(*, workspace, experiment_name: str, name: str, tags: dict, user) -> Run:
    """The run of a job being submitted: in the job's experiment, named like the job,
    SCHEDULED until the job runs."""
    experiment = store.experiment_for(workspace, experiment_name)
    run = store.run_create(
        experiment=experiment,
        name=name,
        tags=[{"key": k, "value": str(v)} for k, v in tags.items()],
        user=user,
        source="job",
        status=RunStatus.SCHEDULED,
    )
    return run


def run_token_issue(run: Run) -> str:
    """A new job-scoped token for ``run`` (only its hash is kept; the last one issued wins)."""
    raw = RUN_TOKEN_PREFIX + secrets.token_urlsafe(32)
    Run.objects.filter(pk=run.pk).update(token_hash=run_token_hash(raw))
    return raw


def follow_job(run_id: int | None, job_status: str, at_ms: int | None = None) -> None:
    if run_id:
        store.run_follow_job(run_id, job_status, at_ms)


def run_artifact_files(workspace_id: int, run_id: str, path: str) -> list[tuple[str, int]] | None:
    """Every file under ``path`` (relative, already checked) of a run's artifacts, as
    (path relative to it, size); None when the workspace has no such run. For the model
    registry (``portal.sources.RunArtifacts``)."""
    run = Run.objects.filter(workspace_id=workspace_id, run_id=run_id).only("experiment_id").first()
    if run is None:
        return None
    key = f"{run.artifact_root}/{path}" if path else run.artifact_root
    return [(entry.path, entry.size or 0) for entry in artifacts.walk(workspace_id, key)]


def run_artifact_open(workspace_id: int, run_id: str, path: str):
    """One file of a run's artifacts opened for reading, or None."""
    run = Run.objects.filter(workspace_id=workspace_id, run_id=run_id).only("experiment_id").first()
    if run is None or not path:
        return None
    return artifacts.open_file(workspace_id, f"{run.artifact_root}/{path}")
