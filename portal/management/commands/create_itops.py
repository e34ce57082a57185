"""``manage.py create_itops``: the first IT-operations login of a new portal (or another one).

Creates the user, or promotes an existing one, as IT operations with the admin panel
(staff, superuser). Interactive by default; ``--noinput`` takes the password from
``PORTAL_ITOPS_PASSWORD`` for automation (a Kubernetes Job, a provisioning script).
"""

import getpass
import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.models import User

PASSWORD_VARIABLE = "PORTAL_ITOPS_PASSWORD"


class Command(BaseCommand):
    help = "Creates (or promotes) an IT-operations user who can attach clusters and use the admin."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_true",
            help=f"ask nothing: the password comes from {PASSWORD_VARIABLE}",
        )

    def handle(self, *args, username: str, email: str, noinput: bool, **options) -> None:
        username = username.strip()
        if not username:
            raise CommandError("--username must not be empty")
        user = User.objects.filter(username=username).first()
        password = self._password(user or User(username=username, email=email), noinput)
        with transaction.atomic():
            created = user is None
            if created:
                user = User(username=username, email=email)
            elif email:
                user.email = email
            if password is not None:
                user.set_password(password)
            user.is_itops = user.is_staff = user.is_superuser = user.is_active = True
            user.save()
        verb = "created" if created else "is now"
        self.stdout.write(f"{username} {verb} IT operations (clusters, admin panel).")

    def _password(self, user: User, noinput: bool) -> str | None:
        """The new password, checked by the password validators; None keeps an existing
        user's password (``--noinput`` without the variable)."""
        if noinput:
            password = os.environ.get(PASSWORD_VARIABLE, "")
            if not password:
                if user.pk is not None:
                    return None
                raise CommandError(
                    f"{PASSWORD_VARIABLE} must hold the new user's password with --noinput"
                )
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("the passwords differ")
        try:
            validate_password(password, user)
        except ValidationError as err:
            raise CommandError("the password is refused: " + " ".join(err.messages)) from None
        return password
