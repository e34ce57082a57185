"""Writes for workspaces, memberships and tokens. Callers check access first."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from portal import audit, live
from portal.models import ApiToken, Membership, Role, TokenScope, User, Workspace, hash_token


def _broadcast_members(workspace: Workspace) -> None:
    def render() -> str:
        members = workspace.memberships.select_related("user")
        return render_to_string(
            "portal/workspace_detail.html#members",
            {"workspace": workspace, "members": members, "oob": True},
        )

    live.broadcast(live.group_name("portal.workspace", workspace.pk), render)


@transaction.atomic
def workspace_create(
    *, slug: str, name: str, description: str = "", admin: User | None = None
) -> Workspace:
    """Creates a workspace, with ``admin`` (when given) as its first admin."""
    workspace = Workspace(slug=slug, name=name, description=description)
    workspace.full_clean()
    workspace.save()
    if admin is not None:
        Membership.objects.create(workspace=workspace, user=admin, role=Role.ADMIN)
    audit.record(
        action="create",
        object_type="workspace",
        object_id=workspace.pk,
        object_name=workspace.slug,
        workspace=workspace,
        summary=audit.changes(name=name, admin=admin.username if admin else ""),
    )
    return workspace


@transaction.atomic
def membership_set(*, workspace: Workspace, user: User, role: str) -> Membership:
    """Adds ``user`` to the workspace with ``role``, or changes their role; broadcasts the list."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    before = Membership.objects.filter(workspace=workspace, user=user).values_list(
        "role", flat=True
    )
    old_role = before.first()
    membership, _ = Membership.objects.update_or_create(
        workspace=workspace, user=user, defaults={"role": role}
    )
    audit.record(
        action="create" if old_role is None else "update",
        object_type="membership",
        object_id=membership.pk,
        object_name=user.username,
        workspace=workspace,
        summary=audit.changes(role=role) + (f" (was {old_role})" if old_role else ""),
    )
    _broadcast_members(workspace)
    return membership


@transaction.atomic
def membership_remove(*, workspace: Workspace, user: User) -> None:
    """Removes ``user`` from the workspace (no error when not a member); broadcasts the list."""
    removed, _ = Membership.objects.filter(workspace=workspace, user=user).delete()
    if removed:
        audit.record(
            action="delete",
            object_type="membership",
            object_name=user.username,
            workspace=workspace,
            summary=f"{user.username} removed from {workspace.slug}",
        )
    _broadcast_members(workspace)
    live.recheck_user(user.pk)  # their open pages leave this workspace's groups


def token_lifetime(days: int | None) -> timedelta:
    """The lifetime of a new token asked for ``days`` (None: PORTAL_TOKEN_DAYS); raises
    ValidationError naming ``expires_in_days`` outside 1..PORTAL_TOKEN_MAX_DAYS."""
    maximum = max(1, settings.TOKEN_MAX_DAYS)
    if days is None:
        days = min(max(1, settings.TOKEN_DAYS), maximum)
    if not 1 <= days <= maximum:
        raise ValidationError(
            {"expires_in_days": f"Choose between 1 and {maximum} days (PORTAL_TOKEN_MAX_DAYS)."}
        )
    return timedelta(days=days)


@transaction.atomic
def token_create(
    *, user: User, name: str, scope: str = TokenScope.FULL, days: int | None = None
) -> tuple[ApiToken, str]:
    """Creates a personal token with ``scope`` expiring after ``days`` (see
    ``token_lifetime``); returns it and the raw secret, which is never stored or shown
    again."""
    if scope not in TokenScope.values:
        raise ValidationError({"scope": f"Choose one of {', '.join(TokenScope.values)}."})
    expires_at = timezone.now() + token_lifetime(days)
    raw = ApiToken.generate()
    token = ApiToken.objects.create(
        user=user,
        name=name.strip()[:80] or "token",
        key_hash=hash_token(raw),
        prefix=raw[:10],
        scope=scope,
        expires_at=expires_at,
    )
    audit.record(
        action="create",
        object_type="token",
        object_id=token.pk,
        object_name=token.name,
        summary=audit.changes(
            owner=user.username, scope=scope, expires=f"{expires_at:%Y-%m-%d}", prefix=token.prefix
        ),
    )
    return token, raw


@transaction.atomic
def token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            action="revoke",
            object_type="token",
            object_id=token.pk,
            object_name=token.name,
            summary=audit.changes(owner=token.user.username, prefix=token.prefix),
        )
