"""The studio's navigation, contributed by each app in its ``AppConfig.ready``.

``audience`` says who sees an entry: ``"all"`` (any signed-in user),
``"member"`` (users working in a workspace) or ``"itops"`` (IT operations).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    audience: str
    order: int = 50


_items: list[NavItem] = []


def add(label: str, url_name: str, *, audience: str, order: int = 50) -> None:
    if audience not in {"all", "member", "itops"}:
        raise ValueError(f"unknown audience {audience!r}")
    if not any(item.url_name == url_name for item in _items):
        _items.append(NavItem(label, url_name, audience, order))


def items_for(user, workspace) -> list[NavItem]:
    """Returns the entries this user sees, in display order."""
    shown = []
    for item in sorted(_items, key=lambda i: i.order):
        if item.audience == "all":
            shown.append(item)
        elif item.audience == "itops" and user.is_itops:
            shown.append(item)
        elif item.audience == "member" and workspace is not None:
            shown.append(item)
    return shown
