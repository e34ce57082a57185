"""Writes of the jobs app: submit, cancel, clone, delete."""

import secrets
from dataclasses import dataclass

import yaml
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from assets import services as assets
from compute.admission import Admission, admit
from compute.models import ComputeTarget
from jobs import spec as specmod
from jobs import state, tasks
from jobs.models import Job, Status, Transition
from jobs.notify import broadcast_job
from portal import audit
from portal.background import enqueue
from portal.errors import Conflict
from tracking import services as tracking

# A new job's reason until a worker picks its start up (the page says what it waits for).
WAITING_FOR_WORKER = "submitted; waiting for a worker to start it"

__all__ = ["Conflict", "Prepared", "job_cancel", "job_clone", "job_delete", "job_submit"]


def _spec_errors(exc: specmod.SpecError) -> ValidationError:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(error.path or "spec", []).append(str(error))
    return ValidationError(errors)


def _generated_name() -> str:
    return "job-" + secrets.token_hex(4)


@dataclass(frozen=True)
class Prepared:
    """A submission checked against everything but the cluster, ready to be stored."""

    text: str
    spec: dict
    target: ComputeTarget
    admission: Admission
    image: str
    warnings: list[str]


def job_prepare(
    *, workspace, text: str | None = None, raw: dict | None = None, overrides: dict | None = None
) -> Prepared:
    """Parses ``text`` (or takes ``raw``) once, validates it against the command-job shape,
    admits it on its compute target and resolves its environment and code.

    Raises ValidationError keyed by field path; nothing is stored.
    """
    try:
        document = specmod.load_job(text or "") if raw is None else raw
        normal = specmod.validate_job_spec(document, overrides=overrides)
    except specmod.SpecError as exc:
        raise _spec_errors(exc) from None
    target, admission, warnings = admit(
        workspace=workspace,
        target_name=normal["compute"],
        instance_type=normal["resources"]["instance_type"],
        count=normal["resources"]["instance_count"],
    )
    image = assets.environment_image(workspace=workspace, environment=normal["environment"])
    assets.code_check(workspace=workspace, code=normal["code"])
    if text is None:
        text = yaml.safe_dump(raw, sort_keys=False)
    return Prepared(text, normal, target, admission, image, warnings)


def job_submit(
    *,
    workspace,
    user,
    text: str | None = None,
    raw: dict | None = None,
    overrides: dict | None = None,
    cloned_from: Job | None = None,
) -> tuple[Job, list[str]]:
    """Validates and stores a job as NotStarted, then queues its start on commit.

    Returns the job and warnings (e.g. it will wait for quota). Raises ValidationError
    keyed by field path; nothing is stored then.
    """
    ready = job_prepare(workspace=workspace, text=text, raw=raw, overrides=overrides)
    normal = ready.spec
    name = normal["name"] or _generated_name()
    try:
        with transaction.atomic():
            run = tracking.run_for_job(
                workspace=workspace,
                experiment_name=normal["experiment_name"],
                name=name,
                tags={
                    tracking.JOB_TAG: name,
                    "kp.compute": ready.target.name,
                    "kp.instance_type": ready.admission.instance_type,
                    "kp.user": user.username,
                },
                user=user,
            )
            job = Job.objects.create(
                run=run,
                workspace=workspace,
                name=name,
                display_name=normal["display_name"] or name,
                experiment_name=normal["experiment_name"],
                description=normal["description"] or "",
                tags=normal["tags"],
                compute=ready.target,
                instance_type=ready.admission.instance_type,
                instance_count=normal["resources"]["instance_count"],
                admission=ready.admission.as_dict(),
                priority=normal["queue_settings"]["priority"],
                spec_yaml=ready.text,
                spec=normal,
                image=ready.image,
                created_by=user,
                cloned_from=cloned_from,
                status_reason=WAITING_FOR_WORKER,
            )
            # A new job's first transition: no history to order against, no lock needed.
            Transition.objects.create(
                job=job,
                seq=1,
                from_status="",
                to_status=Status.NOT_STARTED,
                reason=WAITING_FOR_WORKER,
                at=job.created_at,
            )
            _audit(
                "clone" if cloned_from else "submit",
                job,
                audit.changes(
                    compute=ready.target.name,
                    instance_type=ready.admission.instance_type,
                    instance_count=job.instance_count,
                    image=ready.image,
                )
                + (f", from {cloned_from.name}" if cloned_from else ""),
                actor=user,
            )
            broadcast_job(job)
            enqueue(tasks.job_start, job.pk)
    except IntegrityError:
        # The unique (workspace, name) constraint: the name is taken.
        raise ValidationError(
            {
                "name": f"A job named {name} already exists in {workspace.slug}; choose another name or leave it out."
            }
        ) from None
    return job, ready.warnings


def job_cancel(*, job: Job) -> Job:
    if job.is_terminal:
        raise Conflict(f"Job {job.name} already ended ({job.status}); there is nothing to cancel.")
    if job.status == Status.CANCEL_REQUESTED:
        return job
    with transaction.atomic():
        state.record_transition(job, Status.CANCEL_REQUESTED, "cancel requested")
        _audit("cancel", job, f"was {job.status}")
    enqueue(tasks.job_cancel, job.pk)
    return job


def job_clone(*, job: Job, user, overrides: dict | None = None) -> tuple[Job, list[str]]:
    """Submits the job's original YAML again under a new name (overrides applied)."""
    overrides = dict(overrides or {})
    overrides.setdefault("name", _generated_name())
    return job_submit(
        workspace=job.workspace, user=user, text=job.spec_yaml, overrides=overrides, cloned_from=job
    )


def job_delete(*, job: Job) -> None:
    if not job.is_terminal:
        raise Conflict(f"Job {job.name} is {job.status}; cancel it before deleting it.")
    with transaction.atomic():
        _audit("delete", job, f"ended {job.status}")
        job.delete()


def _audit(action: str, job: Job, summary: str, actor=None) -> None:
    audit.record(
        action=action,
        object_type="job",
        object_id=job.pk,
        object_name=job.name,
        workspace=job.workspace,
        summary=summary,
        actor=actor,
    )
