"""Writes and lookups of the assets app: environments and code archives."""

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from assets import archives
from assets.models import CodeArchive, Environment
from portal import audit
from portal.errors import Conflict


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
            audit.record(
                action="create",
                object_type="environment",
                object_id=env.pk,
                object_name=f"{name}:{version}",
                workspace=workspace,
                summary=audit.changes(image=image),
                actor=user,
            )
    except IntegrityError:
        raise Conflict(f"Environment {name}:{version} already exists; use a new version.") from None
    return env


def environment_image(*, workspace, environment: dict) -> str:
    """The image of a spec's normalised ``environment`` (an image, or a registered
    name:version / name@latest resolved in ``workspace``). Raises ValidationError on
    ``environment`` when no such environment is registered."""
    if environment.get("image"):
        return environment["image"]
    ref = environment["registered"]
    versions = Environment.objects.filter(workspace=workspace, name=ref["name"])
    chosen = (
        versions.order_by("-created_at").only("image").first()
        if ref.get("latest")
        else versions.filter(version=ref["version"]).only("image").first()
    )
    if chosen is None:
        what = f"{ref['name']}@latest" if ref.get("latest") else f"{ref['name']}:{ref['version']}"
        raise ValidationError(
            {
                "environment": f"No environment {what} in workspace {workspace.slug}; register it first (kp environment create) or give an image."
            }
        )
    return chosen.image


def code_check(*, workspace, code: dict | None) -> None:
    """Checks that a spec's normalised ``code`` refers to an archive uploaded to
    ``workspace``. Raises ValidationError on ``code`` otherwise."""
    if code is None:
        return
    if code["kind"] != "uploaded":
        raise ValidationError(
            {
                "code": "Upload the code folder first (the CLI does it for you) and reference it as portal:code/<sha256>."
            }
        )
    if not CodeArchive.objects.filter(workspace=workspace, sha256=code["sha256"]).exists():
        raise ValidationError(
            {"code": "No uploaded code with that hash in this workspace; upload it again."}
        )


def code_path(sha256: str) -> Path:
    """Where the archive with content ``sha256`` is stored."""
    return Path(settings.DATA_DIR) / "code" / sha256[:2] / f"{sha256}.tar.gz"


def code_upload(*, workspace, user, fileobj, max_bytes: int) -> CodeArchive:
    """Checks and stores an uploaded code archive by content; returns its row (idempotent)."""
    tmp_dir = Path(settings.DATA_DIR) / "code" / "incoming"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmp_dir, delete=False) as tmp:
        copied = 0
        while chunk := fileobj.read(1 << 20):
            copied += len(chunk)
            if copied > max_bytes:
                Path(tmp.name).unlink(missing_ok=True)
                raise archives.ArchiveError(
                    f"The code archive is larger than the limit of {max_bytes // (1 << 20)} MiB; leave data out of the code folder."
                )
            tmp.write(chunk)
    try:
        with open(tmp.name, "rb") as handle:
            info = archives.inspect_archive(handle, max_bytes=max_bytes)
        final = code_path(info.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        Path(tmp.name).replace(final)
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    archive, created = CodeArchive.objects.get_or_create(
        workspace=workspace,
        sha256=info.sha256,
        defaults={"size": info.size, "files": info.files, "uploaded_by": user},
    )
    if created:
        audit.record(
            action="upload",
            object_type="code",
            object_id=archive.pk,
            object_name=info.sha256[:12],
            workspace=workspace,
            summary=audit.changes(size=info.size, files=info.files),
            actor=user,
        )
    return archive
