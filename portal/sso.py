"""Single sign-on with OpenID Connect (mozilla-django-oidc), for any provider.

A user is found by the provider's ``sub`` (stored on the user), created on first sign-in
with a username from ``preferred_username`` (or the e-mail's local part), and at every
sign-in their roles are set again from the provider's group claim through
``PORTAL_OIDC_GROUP_MAP``:

    kp-operators=itops,ml-team-a=team-a:data_scientist,team-a-leads=team-a:admin

The map is authoritative for what it names: for an SSO user, IT operations follow the
``itops`` groups when the map has any, and membership of each workspace the map names
follows the groups (the highest mapped role wins; no mapped group, no membership), while
workspaces the map does not name are managed in the portal as usual.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import Http404
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from portal import audit, services
from portal.models import Membership, Role, User, Workspace

ITOPS = "itops"
RANK = {Role.READER: 1, Role.DATA_SCIENTIST: 2, Role.ADMIN: 3}
USERNAME_SAFE = re.compile(r"[^\w.@+-]")


@dataclass(frozen=True)
class Grant:
    """What one provider group gives: IT operations, or a role in a workspace."""

    itops: bool = False
    workspace: str = ""
    role: str = ""


def parse_group_map(text: str) -> dict[str, list[Grant]]:
    """``group=itops`` and ``group=<workspace slug>:<role>`` pairs, comma-separated (a
    group may appear more than once); raises ImproperlyConfigured naming a bad pair."""
    grants: dict[str, list[Grant]] = {}
    for pair in (p.strip() for p in text.split(",")):
        if not pair:
            continue
        group, _, target = (part.strip() for part in pair.partition("="))
        if not group or not target:
            raise ImproperlyConfigured(f"PORTAL_OIDC_GROUP_MAP: {pair!r} is not group=target")
        if target == ITOPS:
            grant = Grant(itops=True)
        else:
            slug, _, role = target.partition(":")
            if role not in Role.values or not slug:
                raise ImproperlyConfigured(
                    f"PORTAL_OIDC_GROUP_MAP: {pair!r}: use itops or <workspace>:<role> with a "
                    f"role of {', '.join(Role.values)}"
                )
            grant = Grant(workspace=slug, role=role)
        grants.setdefault(group, []).append(grant)
    return grants


def groups_of(claims: dict) -> set[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(value, str):
        value = [value]
    return {str(group) for group in value if isinstance(group, str | int)}


@transaction.atomic
def apply_groups(*, user: User, groups: set[str]) -> None:
    """Sets ``user``'s IT operations flag and the memberships of the workspaces the map
    names from ``groups`` (see the module's docstring)."""
    grants = parse_group_map(settings.OIDC_GROUP_MAP)
    held = [grant for group in groups for grant in grants.get(group, [])]
    if any(grant.itops for grants_ in grants.values() for grant in grants_):
        itops = any(grant.itops for grant in held)
        if user.is_itops != itops:
            user.is_itops = user.is_staff = itops
            user.save(update_fields=["is_itops", "is_staff"])
            audit.record(
                action="update",
                object_type="user",
                object_id=user.pk,
                object_name=user.username,
                summary=audit.changes(is_itops=itops, source="single sign-on groups"),
                actor=user,
                via="sso",
            )
    wanted: dict[str, str] = {}
    for grant in held:
        if grant.workspace and RANK[grant.role] > RANK.get(wanted.get(grant.workspace), 0):
            wanted[grant.workspace] = grant.role
    named = {g.workspace for grants_ in grants.values() for g in grants_ if g.workspace}
    current = dict(
        Membership.objects.filter(user=user, workspace__slug__in=named).values_list(
            "workspace__slug", "role"
        )
    )
    for workspace in Workspace.objects.filter(slug__in=named):
        role = wanted.get(workspace.slug)
        if role is not None and current.get(workspace.slug) != role:
            services.membership_set(workspace=workspace, user=user, role=role)
        elif role is None and workspace.slug in current:
            services.membership_remove(workspace=workspace, user=user)


def _username(claims: dict) -> str:
    wanted = claims.get("preferred_username") or (claims.get("email") or "").split("@")[0]
    base = USERNAME_SAFE.sub("", str(wanted))[:140] or "sso-user"
    name, n = base, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, finding users by ``sub`` and mapping groups."""

    def filter_users_by_claims(self, claims):
        subject = claims.get("sub")
        if not subject:
            return User.objects.none()
        return User.objects.filter(oidc_subject=str(subject)[:255])

    def verify_claims(self, claims) -> bool:
        return bool(claims.get("sub"))

    def create_user(self, claims):
        user = User.objects.create_user(
            _username(claims), email=claims.get("email") or "", password=None
        )
        user.oidc_subject = str(claims["sub"])[:255]
        user.save(update_fields=["oidc_subject"])
        audit.record(
            action="create",
            object_type="user",
            object_id=user.pk,
            object_name=user.username,
            summary="created at the first single sign-on",
            actor=user,
            via="sso",
        )
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        if not user.is_active:
            return None
        email = claims.get("email") or ""
        if email and user.email != email:
            user.email = email
            user.save(update_fields=["email"])
        apply_groups(user=user, groups=groups_of(claims))
        return user


class SignInView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider (404 while single sign-on is not configured)."""

    def get(self, request):
        if not settings.SSO_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back (404 while not configured)."""

    def get(self, request):
        if not settings.SSO_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)
