"""``manage.py audit_verify``: checks the audit log's chain of seals; exit status 1 when
something was changed, removed or added after sealing."""

from django.core.management.base import BaseCommand, CommandError

from portal import audit
from portal.models import AuditRecord, AuditSeal


class Command(BaseCommand):
    help = "Verify the audit log's hash chain (seal pending records first with --seal)."

    def add_arguments(self, parser):
        parser.add_argument("--seal", action="store_true", help="seal pending records first")

    def handle(self, *args, seal: bool = False, **options):
        if seal:
            while audit.seal_pending(settle_seconds=0) is not None:
                pass
        problems = audit.verify()
        seals = AuditSeal.objects.count()
        pending = AuditRecord.objects.filter(seal__isnull=True).count()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"The audit log does not verify: {len(problems)} problem(s).")
        self.stdout.write(f"Audit log intact: {seals} seals verified, {pending} records pending.")
