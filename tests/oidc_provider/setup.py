"""Prepares the test provider's database: ``python -m tests.oidc_provider.setup`` with the
provider's environment; reads the client from OIDC_PROVIDER_CLIENT (id:secret:redirect)."""

import os

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oidc_provider.settings")
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    client_id, secret, redirect = os.environ["OIDC_PROVIDER_CLIENT"].split("|")
    Application.objects.create(
        client_id=client_id,
        client_secret=secret,
        name="portal",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    for username in ("carol", "olga"):
        User.objects.create_user(username, f"{username}@example.org", "provider-pass-123")


if __name__ == "__main__":
    main()
