"""The kinds every cluster watch includes: apps add theirs to the portal's registry from
``AppConfig.ready``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from portal.registry import registry

if TYPE_CHECKING:
    from compute.kube.watch.dispatch import Batch


@dataclass(frozen=True)
class Kind:
    """A collection to watch in every cluster and the function its batches go to.

    ``path`` is the collection URL path (``/api/v1/pods``, ``/apis/batch/v1/jobs``).
    ``index`` maps an object to a secondary key (e.g. a label value) the cache indexes on.
    ``optional``: a 404 means "not installed in this cluster" (a CRD); it is retried slowly.
    """

    name: str
    path: str
    handler: Callable[[Batch], None]
    label_selector: str = ""
    field_selector: str = ""
    index: Callable[[dict], str | None] | None = None
    optional: bool = False


def register(kind: Kind) -> None:
    """Adds (or replaces, by name) a kind that every cluster watch started afterwards
    includes (kept in the portal's one registry)."""
    registry.add(kind)


def registered() -> list[Kind]:
    """Returns the registered kinds in registration order."""
    return registry.of(Kind)
