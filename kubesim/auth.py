"""Bearer-token authentication: the admin, fixed users, and service-account tokens.

Service-account tokens are ``ksa.<namespace>.<name>.<mac>``, the mac an HMAC of the
subject under the admin token, so the server can check them without storing them (and they
stay valid across restarts with the same admin token). Requests with a token of a service
account that no longer exists are refused by the API server, as Kubernetes does.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from kubesim.errors import ApiError

READ_VERBS = ("get", "list", "watch")
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated caller.

    ``admin`` users may do anything; ``readonly`` users may get, list and watch anything;
    everyone else is authorized by RBAC (Roles, ClusterRoles and their bindings).
    """

    name: str
    readonly: bool = False
    admin: bool = False
    groups: tuple[str, ...] = ("system:authenticated",)

    @property
    def service_account(self) -> tuple[str, str] | None:
        """Return (namespace, name) for a service account, else None."""
        if not self.name.startswith(SA_PREFIX):
            return None
        ns, _, name = self.name[len(SA_PREFIX) :].partition(":")
        return ns, name


def service_account_user(namespace: str, name: str) -> User:
    """Return the user a service account's token authenticates as, with its groups."""
    return User(
        f"{SA_PREFIX}{namespace}:{name}",
        groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}")
        + ("system:authenticated",),
    )


class Authenticator:
    """Maps bearer tokens to users.

    The admin token belongs to ``admin``; ``extra`` maps further tokens to user names: a
    name starting with "readonly" is read-only, everyone else there is an admin.
    ``users`` maps tokens to names of ordinary users that RBAC authorizes.
    """

    def __init__(
        self,
        admin_token: str,
        extra: dict[str, str] | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        self._key = admin_token.encode()
        self._users = {admin_token: User("admin", admin=True, groups=("system:masters",))}
        for token, name in (extra or {}).items():
            readonly = name.startswith("readonly")
            self._users[token] = User(name, readonly=readonly, admin=not readonly)
        for token, name in (users or {}).items():
            self.add_user(token, name)

    def add_user(self, token: str, name: str, groups: tuple[str, ...] = ()) -> User:
        """Register ``token`` for an RBAC-authorized user; return that user."""
        user = User(name, groups=tuple(groups) + ("system:authenticated",))
        self._users[token] = user
        return user

    def _mac(self, namespace: str, name: str) -> str:
        msg = f"{namespace}/{name}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:40]

    def service_account_token(self, namespace: str, name: str) -> str:
        """Return a bearer token for the service account ``namespace/name``."""
        return f"ksa.{namespace}.{name}.{self._mac(namespace, name)}"

    def authenticate(self, header: str | None) -> User:
        """Return the user for an ``Authorization`` header; raise 401 Unauthorized otherwise."""
        if header and header.startswith("Bearer "):
            token = header[7:].strip()
            user = self._users.get(token)
            if user is not None:
                return user
            parts = token.split(".")
            if len(parts) == 4 and parts[0] == "ksa":
                if hmac.compare_digest(parts[3], self._mac(parts[1], parts[2])):
                    return service_account_user(parts[1], parts[2])
        raise ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(
    user: User,
    verb: str,
    plural: str,
    group: str,
    namespace: str | None,
    name: str | None = None,
    subresource: str | None = None,
) -> ApiError:
    """Return the 403 Kubernetes' RBAC authorizer would give for this request."""
    subject = plural if not group else f"{plural}.{group}"
    if name:
        subject = f'{subject} "{name}"'
    resource = f"{plural}/{subresource}" if subresource else plural
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return ApiError(
        403,
        "Forbidden",
        f'{subject} is forbidden: User "{user.name}" cannot {verb} resource "{resource}" in '
        f'API group "{group}" {where}',
        {"name": name or "", "group": group, "kind": plural},
    )
