"""Writes of the jobs app: submit, cancel, clone, delete, environments, code, transitions."""

import hashlib
import secrets
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from compute import fit as fitmod
from compute import quantity
from compute.models import ComputeTarget, TargetStatus
from jobs import codearchive
from jobs import spec as specmod
from jobs.manifests import DEFAULT_INSTANCE_TYPE
from jobs.models import TERMINAL, CodeArchive, Environment, Job, Status, Transition
from jobs.notify import broadcast_job
from portal.background import enqueue


class Conflict(Exception):
    """The request clashes with the job's state (e.g. cancelling a finished job)."""


def _spec_errors(exc: specmod.SpecError) -> ValidationError:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(error.path or "spec", []).append(str(error))
    return ValidationError(errors)


def _generated_name() -> str:
    return "job-" + secrets.token_hex(4)


def _resolve_environment(workspace, env: dict) -> str:
    if env.get("image"):
        return env["image"]
    ref = env["registered"]
    versions = Environment.objects.filter(workspace=workspace, name=ref["name"])
    chosen = (
        versions.order_by("-created_at").first()
        if ref.get("latest")
        else versions.filter(version=ref["version"]).first()
    )
    if chosen is None:
        what = f"{ref['name']}@latest" if ref.get("latest") else f"{ref['name']}:{ref['version']}"
        raise ValidationError(
            {
                "environment": f"No environment {what} in workspace {workspace.slug}; register it first (kp environment create) or give an image."
            }
        )
    return chosen.image


def check_submission(
    *, workspace, normal: dict
) -> tuple[ComputeTarget, object | None, str, list[str]]:
    """Checks what can be checked before the cluster: target, instance type, fit, quota.

    Returns (target, instance type row or None for the default, image, warnings).
    """
    target = (
        ComputeTarget.objects.select_related("cluster")
        .filter(workspace=workspace, name=normal["compute"])
        .first()
    )
    if target is None:
        others = ", ".join(workspace.compute_targets.values_list("name", flat=True)) or "none yet"
        raise ValidationError(
            {
                "compute": f"Workspace {workspace.slug} has no compute target “{normal['compute']}” (its targets: {others})."
            }
        )
    if target.status == TargetStatus.FAILED:
        raise ValidationError(
            {"compute": f"Compute target {target.name} is not usable: {target.status_reason}"}
        )
    if not target.cluster.training_enabled:
        raise ValidationError(
            {"compute": f"Training is switched off on cluster {target.cluster.name}."}
        )
    name = normal["resources"]["instance_type"]
    instance = None
    allowed = target.usable_instance_types()
    if name:
        instance = allowed.filter(name=name).first()
        if instance is None:
            choices = ", ".join(allowed.values_list("name", flat=True)) or "none"
            raise ValidationError(
                {
                    "resources.instance_type": f"Instance type “{name}” is not allowed on {target.name} (allowed: {choices})."
                }
            )
    else:
        instance = allowed.filter(name=DEFAULT_INSTANCE_TYPE["name"]).first()
    warnings: list[str] = []
    if instance is not None and not instance.fitting_nodes and target.cluster.nodes.exists():
        raise ValidationError(
            {
                "resources.instance_type": f"No node of cluster {target.cluster.name} can hold instance type {instance.name}; ask IT operations for a smaller one."
            }
        )
    requests = instance.requests if instance else DEFAULT_INSTANCE_TYPE["resources"]["requests"]
    limits = instance.limits if instance else DEFAULT_INSTANCE_TYPE["resources"]["limits"]
    count = normal["resources"]["instance_count"]
    if instance is not None and instance.capacity_slots and count > instance.capacity_slots:
        raise ValidationError(
            {
                "resources.instance_count": f"{count} instances of {instance.name} never fit at once: the cluster holds at most {instance.capacity_slots}."
            }
        )
    wanted = fitmod.demand(requests, limits)
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
    image = _resolve_environment(workspace, normal["environment"])
    if normal["code"] is not None:
        if normal["code"]["kind"] != "uploaded":
            raise ValidationError(
                {
                    "code": "Upload the code folder first (the CLI does it for you) and reference it as portal:code/<sha256>."
                }
            )
        if not CodeArchive.objects.filter(
            workspace=workspace, sha256=normal["code"]["sha256"]
        ).exists():
            raise ValidationError(
                {"code": "No uploaded code with that hash in this workspace; upload it again."}
            )
    return target, instance, image, warnings


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
    try:
        if raw is None:
            raw = specmod.parse_job_yaml(text or "")
        normal = specmod.validate_job_spec(raw, source=text, overrides=overrides)
    except specmod.SpecError as exc:
        raise _spec_errors(exc) from None
    target, instance, image, warnings = check_submission(workspace=workspace, normal=normal)
    name = normal["name"] or _generated_name()
    if text is None:
        import yaml

        text = yaml.safe_dump(raw, sort_keys=False)
    with transaction.atomic():
        if Job.objects.filter(workspace=workspace, name=name).exists():
            raise ValidationError(
                {
                    "name": f"A job named {name} already exists in {workspace.slug}; choose another name or leave it out."
                }
            )
        try:
            with transaction.atomic():
                job = Job.objects.create(
                    workspace=workspace,
                    name=name,
                    display_name=normal["display_name"] or name,
                    experiment_name=normal["experiment_name"],
                    description=normal["description"] or "",
                    tags=normal["tags"],
                    compute=target,
                    instance_type=instance.name if instance else DEFAULT_INSTANCE_TYPE["name"],
                    instance_count=normal["resources"]["instance_count"],
                    priority=normal["queue_settings"]["priority"],
                    spec_yaml=text,
                    spec=normal,
                    image=image,
                    created_by=user,
                    cloned_from=cloned_from,
                    status_reason="submitted",
                )
        except IntegrityError:
            raise ValidationError(
                {"name": f"A job named {name} already exists in {workspace.slug}."}
            ) from None
        # A new job's first transition: no history to order against, no lock needed.
        Transition.objects.create(
            job=job,
            seq=1,
            from_status="",
            to_status=Status.NOT_STARTED,
            reason="submitted",
            at=job.created_at,
        )
        broadcast_job(job)
        from jobs import tasks

        enqueue(tasks.job_start, job.pk)
    return job, warnings


def record_transition(job: Job, to: str, reason: str = "", *, at=None) -> bool:
    """Moves ``job`` to ``to`` and stores the transition once. Returns False when nothing changed.

    Terminal states are final, and CancelRequested only moves to Canceled (or a terminal
    state the cluster reached first), so late or repeated events cannot reorder history.
    """
    at = at or timezone.now()
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        current = locked.status
        last = locked.transitions.order_by("-seq").first()
        if last is not None and current == to and locked.status_reason == reason:
            return False
        if current in TERMINAL:
            return False
        if current == Status.CANCEL_REQUESTED and to not in TERMINAL:
            return False
        if last is not None and current == to:
            Job.objects.filter(pk=job.pk).update(status_reason=reason)
            job.status_reason = reason
            broadcast_job(job)
            return True
        seq = (locked.transitions.aggregate(m=Max("seq"))["m"] or 0) + 1
        Transition.objects.create(
            job=locked,
            seq=seq,
            from_status=current if last else "",
            to_status=to,
            reason=reason,
            at=at,
        )
        updates = {"status": to, "status_reason": reason}
        if to == Status.RUNNING and locked.started_at is None:
            updates["started_at"] = at
        if to in TERMINAL:
            updates["ended_at"] = at
        Job.objects.filter(pk=job.pk).update(**updates)
        for key, value in updates.items():
            setattr(job, key, value)
        broadcast_job(job, ended=to in TERMINAL)
    return True


def job_cancel(*, job: Job) -> Job:
    if job.is_terminal:
        raise Conflict(f"Job {job.name} already ended ({job.status}); there is nothing to cancel.")
    if job.status == Status.CANCEL_REQUESTED:
        return job
    record_transition(job, Status.CANCEL_REQUESTED, "cancel requested")
    from jobs import tasks

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
    job.delete()


def environment_create(
    *, workspace, user, name: str, version: str, image: str, description: str = ""
) -> Environment:
    env = Environment(
        workspace=workspace,
        name=name,
        version=version,
        image=image,
        description=description,
        created_by=user,
    )
    env.full_clean(exclude=["created_by"])
    try:
        with transaction.atomic():
            env.save()
    except IntegrityError:
        raise Conflict(f"Environment {name}:{version} already exists; use a new version.") from None
    return env


def code_path(sha256: str) -> Path:
    return Path(settings.DATA_DIR) / "code" / sha256[:2] / f"{sha256}.tar.gz"


def code_upload(*, workspace, user, fileobj, max_bytes: int) -> CodeArchive:
    """Checks and stores an uploaded code archive by content; returns its row (idempotent)."""
    import tempfile

    tmp_dir = Path(settings.DATA_DIR) / "code" / "incoming"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmp_dir, delete=False) as tmp:
        copied = 0
        while chunk := fileobj.read(1 << 20):
            copied += len(chunk)
            if copied > max_bytes:
                Path(tmp.name).unlink(missing_ok=True)
                raise codearchive.ArchiveError(
                    f"The code archive is larger than the limit of {max_bytes // (1 << 20)} MiB; leave data out of the code folder."
                )
            tmp.write(chunk)
    try:
        with open(tmp.name, "rb") as handle:
            info = codearchive.inspect_archive(handle, max_bytes=max_bytes)
        final = code_path(info.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        Path(tmp.name).replace(final)
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    archive, _ = CodeArchive.objects.get_or_create(
        workspace=workspace,
        sha256=info.sha256,
        defaults={"size": info.size, "files": info.files, "uploaded_by": user},
    )
    return archive


def code_token_issue(job: Job, *, hours: int = 24) -> str:
    """Issues the job-scoped credential its pods use to fetch the code; only the hash is kept."""
    raw = "kpc_" + secrets.token_urlsafe(32)
    job.code_token_hash = hashlib.sha256(raw.encode()).hexdigest()
    job.code_token_expires = timezone.now() + timedelta(hours=hours)
    Job.objects.filter(pk=job.pk).update(
        code_token_hash=job.code_token_hash, code_token_expires=job.code_token_expires
    )
    return raw
