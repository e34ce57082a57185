"""``manage.py attach_in_cluster``: attach the cluster the portal itself runs in, with the
credentials Kubernetes gives its pods (the service account's token and CA), and optionally
install the extension. Idempotent: run again, it refreshes the stored token.

The server is ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`` unless
``--server`` says otherwise. Kubernetes rotates the projected token of a pod (an hour by
default), so the manifests in ``deploy/`` give the portal a long-lived service-account token
Secret for this (``--token-file``), or re-run this command periodically.
"""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from compute import services
from compute.kube.client import ClusterAccess
from compute.models import Cluster

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class Command(BaseCommand):
    help = "Attaches the cluster this process runs in with its service account (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default="local", help="the cluster's name in the portal")
        parser.add_argument("--token-file", default=str(SERVICE_ACCOUNT / "token"))
        parser.add_argument("--ca-file", default=str(SERVICE_ACCOUNT / "ca.crt"))
        parser.add_argument("--server", default="", help="default: from KUBERNETES_SERVICE_*")
        parser.add_argument(
            "--install", action="store_true", help="install the extension (training, inference)"
        )

    def handle(self, *args, name, token_file, ca_file, server, install, **options) -> None:
        server = server or _in_cluster_server()
        try:
            token = Path(token_file).read_text().strip()
            ca_data = Path(ca_file).read_text()
        except OSError as exc:
            raise CommandError(
                f"cannot read the service account's credentials ({exc}); is this a pod with "
                "a service account token mounted?"
            ) from exc
        if not token:
            raise CommandError(f"{token_file} is empty")
        access = ClusterAccess(server=server, credentials={"token": token, "ca_data": ca_data})
        with transaction.atomic():
            cluster = Cluster.objects.filter(name=name).first()
            if cluster is None:
                cluster = services.cluster_attach(
                    name=name, access=access, description="the cluster the portal runs in"
                )
                verb = "attached"
            else:
                services.cluster_update_credentials(cluster=cluster, access=access)
                verb = "refreshed"
        if install:
            services.extension_install(
                cluster=cluster, training=True, inference=True, node_selector={}
            )
        self.stdout.write(f"cluster {name} {verb} ({server})")


def _in_cluster_server() -> str:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise CommandError("KUBERNETES_SERVICE_HOST is not set: not in a pod; give --server")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"https://{host}:{port}"
