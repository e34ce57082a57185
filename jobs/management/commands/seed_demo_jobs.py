"""Submits the training sample (samples/train-digits) once in the sandbox's team-a, as its
data scientist, so a newcomer's studio has a run with charts, parameters and outputs."""

import io
from pathlib import Path

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from assets import archives
from assets import services as assets
from jobs import services
from jobs.models import Job
from portal.models import Membership, Role, Workspace

SAMPLE = Path(settings.BASE_DIR) / "samples" / "train-digits"
WORKSPACE = "team-a"


class Command(BaseCommand):
    help = "Submits the training sample once in team-a (idempotent: skipped when it ran)."

    def handle(self, *args, **options):
        workspace = Workspace.objects.filter(slug=WORKSPACE).first()
        member = (
            Membership.objects.filter(workspace=workspace, role=Role.DATA_SCIENTIST)
            .select_related("user")
            .order_by("user__username")
            .first()
        )
        if workspace is None or member is None:
            self.stdout.write("No team-a data scientist: the training sample is not submitted.")
            return
        raw = yaml.safe_load((SAMPLE / "job.yml").read_text())
        if Job.objects.filter(workspace=workspace, experiment_name=raw["experiment_name"]).exists():
            return
        packed = archives.pack_folder(str(SAMPLE / "src"), max_bytes=settings.CODE_UPLOAD_MAX_BYTES)
        archive = assets.code_upload(
            workspace=workspace,
            user=member.user,
            fileobj=io.BytesIO(packed),
            max_bytes=settings.CODE_UPLOAD_MAX_BYTES,
        )
        raw["code"] = archive.reference
        try:
            job, _warnings = services.job_submit(workspace=workspace, user=member.user, raw=raw)
        except ValidationError as exc:
            self.stdout.write(f"The training sample was not submitted: {'; '.join(exc.messages)}")
            return
        self.stdout.write(
            f"Submitted the training sample as job {job.name} in {WORKSPACE}; "
            "its charts fill in as it runs."
        )
