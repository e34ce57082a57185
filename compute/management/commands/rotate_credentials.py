"""Re-encrypts every stored cluster credential with the first key of PORTAL_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand
from django.db import transaction

from compute import credentials
from compute.models import Cluster


class Command(BaseCommand):
    help = "Re-encrypts cluster credentials with the current (first) encryption key."

    def handle(self, *args, **options):
        count = 0
        with transaction.atomic():
            for cluster in Cluster.objects.select_for_update():
                cluster.credentials = credentials.rotate(cluster.credentials)
                cluster.save(update_fields=["credentials"])
                count += 1
        self.stdout.write(f"Re-encrypted the credentials of {count} cluster(s).")
