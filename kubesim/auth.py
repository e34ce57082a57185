"""Bearer-token authentication and the tiny authorizer (admin or read-only)."""

from __future__ import annotations

from dataclasses import dataclass

from kubesim.errors import ApiError

READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated caller; ``readonly`` users may only get, list and watch."""

    name: str
    readonly: bool = False

    def allowed(self, verb: str) -> bool:
        """Return whether this user may perform ``verb`` on any resource."""
        return not self.readonly or verb in READ_VERBS


class Authenticator:
    """Maps bearer tokens to users.

    The admin token belongs to ``admin``; ``extra`` maps further tokens to user names, and
    a user whose name starts with "readonly" is read-only, everyone else is an admin.
    """

    def __init__(self, admin_token: str, extra: dict[str, str] | None = None) -> None:
        self._users = {admin_token: User("admin")}
        for token, name in (extra or {}).items():
            self._users[token] = User(name, readonly=name.startswith("readonly"))

    def authenticate(self, header: str | None) -> User:
        """Return the user for an ``Authorization`` header; raise 401 Unauthorized otherwise."""
        if header and header.startswith("Bearer "):
            user = self._users.get(header[7:].strip())
            if user is not None:
                return user
        raise ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(
    user: User, verb: str, plural: str, group: str, namespace: str | None, name: str | None = None
) -> ApiError:
    """Return the 403 Kubernetes' RBAC authorizer would give for this request."""
    subject = plural if not group else f"{plural}.{group}"
    if name:
        subject = f'{subject} "{name}"'
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return ApiError(
        403,
        "Forbidden",
        f'{subject} is forbidden: User "{user.name}" cannot {verb} resource "{plural}" in API '
        f'group "{group}" {where}',
        {"name": name or "", "group": group, "kind": plural},
    )
