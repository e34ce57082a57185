"""Attaches (or refreshes) the kubesim sandbox cluster, installs the extension on it and
gives each demo workspace a compute target, so a newcomer sees a working cluster at once."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from compute import kubeconfig, services
from compute.models import Cluster, ComputeTarget, ExtensionStatus
from portal.models import Workspace

NAME = "sandbox"
DEMO_TARGETS = {"team-a": "cpu-target", "team-b": "team-b-target"}


class Command(BaseCommand):
    help = "Attaches the sandbox cluster from its kubeconfig (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--kubeconfig", dest="path", required=True)

    def handle(self, *args, path: str, **options):
        try:
            access = kubeconfig.read(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the sandbox kubeconfig: {exc}") from exc
        with transaction.atomic():
            cluster = Cluster.objects.filter(name=NAME).first()
            if cluster is None:
                cluster = services.cluster_attach(
                    name=NAME, access=access, description="kubesim sandbox cluster", is_sandbox=True
                )
            else:
                services.cluster_update_credentials(cluster=cluster, access=access)
            if cluster.extension_status != ExtensionStatus.INSTALLED:
                services.extension_install(
                    cluster=cluster, training=True, inference=True, node_selector={}
                )
                cluster.refresh_from_db()
            for slug, target_name in DEMO_TARGETS.items():
                workspace = Workspace.objects.filter(slug=slug).first()
                if (
                    workspace
                    and not ComputeTarget.objects.filter(
                        workspace=workspace, cluster=cluster
                    ).exists()
                ):
                    services.target_create(
                        workspace=workspace,
                        cluster=cluster,
                        name=target_name,
                        namespace=slug,
                        create_namespace=True,
                    )
        self.stdout.write(f"Sandbox cluster attached as “{NAME}”.")
