"""Writes for workspaces, memberships and tokens. Callers check access first."""

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from portal import live
from portal.models import ApiToken, Membership, Role, User, Workspace, hash_token


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
    return workspace


@transaction.atomic
def membership_set(*, workspace: Workspace, user: User, role: str) -> Membership:
    """Adds ``user`` to the workspace with ``role``, or changes their role; broadcasts the list."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    membership, _ = Membership.objects.update_or_create(
        workspace=workspace, user=user, defaults={"role": role}
    )
    _broadcast_members(workspace)
    return membership


@transaction.atomic
def membership_remove(*, workspace: Workspace, user: User) -> None:
    """Removes ``user`` from the workspace (no error when not a member); broadcasts the list."""
    Membership.objects.filter(workspace=workspace, user=user).delete()
    _broadcast_members(workspace)
    live.recheck_user(user.pk)  # their open pages leave this workspace's groups


def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Creates a personal token; returns it and the raw secret, which is never stored or shown again."""
    raw = ApiToken.generate()
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:80] or "token", key_hash=hash_token(raw), prefix=raw[:10]
    )
    return token, raw


def token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
