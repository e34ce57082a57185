"""Creates the demo workspaces and one user per role, and prints their logins."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal import services
from portal.models import Role, User, Workspace

DEMO_PASSWORD = "portal-demo"
DEMO_USERS = [
    # username, IT ops?, [(workspace slug, role)]
    ("itops", True, []),
    ("alice", False, [("team-a", Role.ADMIN)]),
    ("dana", False, [("team-a", Role.DATA_SCIENTIST), ("team-b", Role.READER)]),
    ("rita", False, [("team-a", Role.READER)]),
    ("bob", False, [("team-b", Role.DATA_SCIENTIST)]),
]
DEMO_WORKSPACES = [
    ("team-a", "Team A", "Vision models."),
    ("team-b", "Team B", "Language models."),
]


class Command(BaseCommand):
    help = "Creates demo workspaces and users (idempotent) and prints their logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="run in the production mode too (the demo logins have a known password)",
        )

    @transaction.atomic
    def handle(self, *args, force: bool = False, **options):
        if settings.PRODUCTION and not force:
            raise CommandError(
                "seed_demo creates logins with a known password; it does not run in the "
                "production mode without --force. For the first IT-operations login use "
                "manage.py create_itops --username NAME"
            )
        for slug, name, description in DEMO_WORKSPACES:
            Workspace.objects.get_or_create(
                slug=slug, defaults={"name": name, "description": description}
            )
        for username, itops, memberships in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
            user.is_itops = itops
            user.is_staff = itops
            user.is_superuser = itops
            user.save()
            for slug, role in memberships:
                services.membership_set(
                    workspace=Workspace.objects.get(slug=slug), user=user, role=role
                )
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, _itops, memberships in DEMO_USERS:
            roles = ", ".join(f"{Role(r).label} in {s}" for s, r in memberships) or "IT operations"
            self.stdout.write(f"  {username:<6} {roles}")
