"""Writes and lookups of models: creating a version from an upload, a run's artifacts, a URL
or a claim; archiving; resolving ``azureml:<name>:<version>`` and ``@latest``.

Every check runs before anything is stored, and files are stored before the row (see
``model_files``), so a refused or failed creation leaves nothing behind."""

import posixpath
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from assets import archives, model_files
from assets.model_refs import (
    NAME,
    NAME_RULE,
    SOURCE_HELP,
    VERSION,
    VERSION_RULE,
    Source,
    SourceError,
    clean_path,
    parse_model_ref,
    parse_source,
)
from assets.models import Model, ModelType, SourceKind
from portal.errors import Conflict
from portal.registry import registry
from portal.sources import JobRuns, RunArtifacts

MLMODEL = "MLmodel"


@dataclass(frozen=True)
class Upload:
    """Uploaded files: ``kind`` "archive" (a .tar/.tar.gz of a folder, unpacked) or "file"
    (one file, kept under ``filename``)."""

    kind: str
    stream: BinaryIO
    filename: str = ""


@dataclass(frozen=True)
class _Plan:
    """What a new model is made of, checked: its source and how to write its files."""

    kind: str
    source: str
    write: object = None  # callable(writer) or None when nothing is stored
    paths: tuple[str, ...] = ()
    job_name: str = ""
    run_id: str = ""


def _check_fields(*, name, version, type, description, tags) -> None:
    errors = {}
    if not isinstance(name, str) or not NAME.match(name):
        errors["name"] = f"The model name {str(name)[:100]!r} is not valid: {NAME_RULE}."
    if version is not None and (not isinstance(version, str) or not VERSION.match(version)):
        errors["version"] = f"The version {str(version)[:100]!r} is not valid: {VERSION_RULE}."
    if type not in ModelType.values:
        errors["type"] = f"Unknown model type {str(type)[:50]!r}: use custom_model or mlflow_model."
    if not isinstance(description, str) or len(description) > 5000:
        errors["description"] = "The description must be text of at most 5000 characters."
    if not isinstance(tags, dict) or len(tags) > 100:
        errors["tags"] = "Tags must be a mapping of at most 100 names to text values."
    elif any(not isinstance(k, str) or not k or len(k) > 250 for k in tags) or any(
        not isinstance(v, str | int | float | bool) or len(str(v)) > 5000 for v in tags.values()
    ):
        errors["tags"] = "Tag names must be 1-250 characters and values text of at most 5000."
    if errors:
        raise ValidationError(errors)


def _plan_upload(upload: Upload, spool) -> _Plan:
    limit = settings.MODEL_MAX_BYTES
    if upload.kind == "file":
        name = posixpath.basename((upload.filename or "").replace("\\", "/"))
        try:
            name = clean_path(name)
        except SourceError as exc:
            raise ValidationError({"file": f"The file name is refused: {exc}."}) from None
        if not name or name in (".", ".."):
            raise ValidationError({"file": "The uploaded file has no name."})
        return _Plan(
            SourceKind.UPLOAD,
            "upload",
            write=lambda writer: writer.put(name, upload.stream),
            paths=(name,),
        )
    budget = model_files.Budget(limit)
    try:
        while chunk := upload.stream.read(model_files.CHUNK):
            budget.spend(len(chunk))
            spool.write(chunk)
        spool.seek(0)
        archives.inspect_archive(spool, max_bytes=limit, subject="model")
        members = model_files.archive_members(spool)
        paths = tuple(model_files.member_paths(members))
    except model_files.TooLarge:
        raise
    except (archives.ArchiveError, SourceError) as exc:
        raise ValidationError({"archive": f"The archive is refused: {exc}."}) from None
    if not paths:
        raise ValidationError({"archive": "The archive holds no files."})
    return _Plan(
        SourceKind.UPLOAD,
        "upload",
        write=lambda writer: model_files.write_archive(writer, spool),
        paths=paths,
    )


def _run_id_of(workspace, source: Source) -> tuple[str, str]:
    """(run id, job name) of a run source; raises ValidationError on ``path``."""
    jobs = registry.get(JobRuns, "jobs")
    if source.job:
        run_id = jobs.run_of(workspace.pk, source.job) if jobs else None
        if not run_id:
            raise ValidationError(
                {"path": f"No job {source.job} with a run in workspace {workspace.slug}."}
            )
        return run_id, source.job
    job = jobs.job_of(workspace.pk, source.run_id) if jobs else None
    return source.run_id, job or ""


def _plan_run(workspace, source: Source) -> _Plan:
    runs = registry.get(RunArtifacts, "runs")
    if runs is None:
        raise ValidationError({"path": "Run tracking is not installed in this portal."})
    run_id, job = _run_id_of(workspace, source)
    inner = source.path
    single = runs.open(workspace.pk, run_id, inner) if inner else None
    if single is not None:
        name = posixpath.basename(inner)
        return _Plan(
            SourceKind.RUN,
            source.uri,
            write=lambda writer: writer.put(name, single),
            paths=(name,),
            job_name=job,
            run_id=run_id,
        )
    listed = runs.files(workspace.pk, run_id, inner)
    if listed is None:
        raise ValidationError({"path": f"No run {run_id} in workspace {workspace.slug}."})
    if not listed:
        where = f"under '{inner}'" if inner else "at all"
        raise ValidationError(
            {"path": f"The run {run_id} has no artifacts {where}; check the path with kp job show."}
        )

    def write(writer) -> None:
        for relative, _ in listed:
            path = f"{inner}/{relative}" if inner else relative
            handle = runs.open(workspace.pk, run_id, path)
            if handle is None:
                raise ValidationError({"path": f"The artifact {path} went away while copying."})
            with handle:
                writer.put(clean_path(relative), handle)

    return _Plan(
        SourceKind.RUN,
        source.uri,
        write=write,
        paths=tuple(clean_path(r) for r, _ in listed),
        job_name=job,
        run_id=run_id,
    )


def _plan(workspace, *, path, upload, spool) -> _Plan:
    if upload is not None and path:
        raise ValidationError({"path": "Give either files or a path, not both."})
    if upload is not None:
        return _plan_upload(upload, spool)
    if not path or not isinstance(path, str):
        raise ValidationError({"path": f"Say where the model's files are: {SOURCE_HELP}."})
    try:
        source = parse_source(path)
    except SourceError as exc:
        raise ValidationError({"path": f"{str(exc)[:1].upper()}{str(exc)[1:]}."}) from None
    if source.kind == "run":
        return _plan_run(workspace, source)
    return _Plan(SourceKind.URL if source.kind == "url" else SourceKind.PVC, source.uri)


def _next_version(workspace, name: str) -> str:
    numbers = [
        int(v)
        for v in Model.objects.filter(workspace=workspace, name=name).values_list(
            "version", flat=True
        )
        if v.isdigit() and len(v) < 18
    ]
    return str(max(numbers, default=0) + 1)


def _version_clash(workspace, name: str, version: str) -> Conflict:
    return Conflict(
        f"Model {name} already has version {version} in workspace {workspace.slug}; "
        "give another --version, or leave it out to get the next number."
    )


def model_create(
    *,
    workspace,
    user,
    name: str,
    version: str | None = None,
    type: str = ModelType.CUSTOM,
    description: str = "",
    tags: dict | None = None,
    path: str | None = None,
    upload: Upload | None = None,
) -> Model:
    """Creates a model version from ``upload`` or ``path`` and returns it. ``version`` None
    takes the next integer. Raises ValidationError naming the field, Conflict when the
    version exists, model_files.TooLarge past ``PORTAL_MODEL_MAX_BYTES``."""
    tags = {} if tags is None else tags
    version = version or None
    _check_fields(name=name, version=version, type=type, description=description, tags=tags)
    if version and Model.objects.filter(workspace=workspace, name=name, version=version).exists():
        raise _version_clash(workspace, name, version)
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        plan = _plan(workspace, path=path, upload=upload, spool=spool)
        if type == ModelType.MLFLOW and plan.write and MLMODEL not in plan.paths:
            raise ValidationError(
                {
                    "type": f"An mlflow_model has an {MLMODEL} file at its top; these files have none (use custom_model, or point at the folder mlflow.log_model wrote)."
                }
            )
        model = Model(
            workspace=workspace,
            name=name,
            type=type,
            description=description,
            tags={k: str(v) for k, v in tags.items()},
            source_kind=plan.kind,
            source=plan.source,
            job_name=plan.job_name,
            run_id=plan.run_id,
            created_by=user,
        )
        writer = model_files.Writer(model.storage_prefix, settings.MODEL_MAX_BYTES)
        try:
            if plan.write:
                plan.write(writer)
            model.files = writer.files
            model.size = sum(entry["size"] for entry in writer.files)
            _save(model, version)
        except BaseException:
            writer.discard()
            raise
    return model


def _save(model: Model, version: str | None) -> None:
    """Saves ``model`` as ``version`` (or the next free integer, trying again when another
    creation took it first)."""
    for _ in range(5):
        model.version = version or _next_version(model.workspace, model.name)
        try:
            with transaction.atomic():
                model.save()
            return
        except IntegrityError:
            if version:
                raise _version_clash(model.workspace, model.name, version) from None
    raise Conflict(f"Model {model.name} is being created by others at once; try again.")


def model_get(*, workspace, name: str, version: str | None) -> Model | None:
    """The version ``version`` of model ``name``, or with None the latest: the most recently
    created version that is not archived."""
    versions = Model.objects.filter(workspace=workspace, name=name)
    if version is None:
        return versions.filter(archived=False).order_by("-created_at", "-id").first()
    return versions.filter(version=version).first()


def model_resolve(*, workspace, reference: str, field: str = "model") -> Model:
    """The model a spec names as ``azureml:<name>:<version>`` or ``azureml:<name>@latest``.
    Raises ValidationError on ``field`` when the reference is malformed or names nothing."""
    try:
        name, version = parse_model_ref(reference)
    except SourceError as exc:
        raise ValidationError({field: f"{str(exc)[:1].upper()}{str(exc)[1:]}."}) from None
    model = model_get(workspace=workspace, name=name, version=version)
    if model is None:
        what = (
            f"{name}:{version}" if version else f"{name}@latest (no version that is not archived)"
        )
        raise ValidationError(
            {
                field: f"No model {what} in workspace {workspace.slug}; register it with kp model create."
            }
        )
    return model


def model_set_archived(*, model: Model, archived: bool) -> Model:
    """Archives (hides from lists and from ``@latest``) or restores a version."""
    Model.objects.filter(pk=model.pk).update(archived=archived)
    model.archived = archived
    return model
