"""The one place apps plug into the portal.

From its ``AppConfig.ready`` an app adds what it contributes — live group kinds
(``live.LiveKind``), navigation entries (``nav.NavItem``), pieces the embedded mode runs in
the web process (``embedded.Background``), checks for work using an instance type
(``compute.usage.UsageCheck``), cluster collections to watch (the watch engine's ``Kind``) —
with ``registry.add(item)``; the parts of the portal that use them read
``registry.of(Type)``. Items are kept per type in the order added; an item whose type
already holds one with the same ``key`` (or ``name``) replaces it.
"""

from collections.abc import Hashable
from typing import TypeVar

T = TypeVar("T")


def _key(item) -> Hashable:
    return item.key if hasattr(item, "key") else item.name


class Registry:
    def __init__(self) -> None:
        self._items: dict[type, dict[Hashable, object]] = {}

    def add(self, *items) -> None:
        for item in items:
            self._items.setdefault(type(item), {})[_key(item)] = item

    def of(self, kind: type[T]) -> list[T]:
        """The items of type ``kind``, in the order they were added."""
        return list(self._items.get(kind, {}).values())

    def get(self, kind: type[T], key: Hashable) -> T | None:
        """The item of type ``kind`` with ``key``, or None."""
        return self._items.get(kind, {}).get(key)


registry = Registry()
