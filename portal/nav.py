"""The studio's navigation: ``NavItem``s that apps add to the registry in ``AppConfig.ready``.

``audience`` says who sees an entry: ``"all"`` (any signed-in user),
``"member"`` (users working in a workspace), ``"admin"`` (IT operations, and admins of
the current workspace) or ``"itops"`` (IT operations).
"""

from dataclasses import dataclass

from portal.models import Role
from portal.registry import registry

AUDIENCES = frozenset({"all", "member", "admin", "itops"})


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    audience: str
    order: int = 50

    def __post_init__(self) -> None:
        if self.audience not in AUDIENCES:
            raise ValueError(f"unknown audience {self.audience!r}")

    @property
    def key(self) -> str:
        return self.url_name


def items_for(user, workspace, role: str | None = None) -> list[NavItem]:
    """Returns the entries this user sees (``role``: theirs in ``workspace``), in display
    order."""
    shown = []
    for item in sorted(registry.of(NavItem), key=lambda i: i.order):
        if item.audience == "all":
            shown.append(item)
        elif item.audience == "itops" and user.is_itops:
            shown.append(item)
        elif item.audience == "member" and workspace is not None:
            shown.append(item)
        elif item.audience == "admin" and (user.is_itops or role == Role.ADMIN):
            shown.append(item)
    return shown
