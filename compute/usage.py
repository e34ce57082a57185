"""Who uses an instance type right now.

Apps that run work (jobs, deployments) add a ``UsageCheck`` to the registry, returning the
names of their live work using a given instance type; compute asks before deleting one.
This keeps the dependency one way: jobs imports compute, never the reverse.
"""

from collections.abc import Callable
from dataclasses import dataclass

from portal.registry import registry


@dataclass(frozen=True)
class UsageCheck:
    name: str
    users: Callable[[object], list[str]]


def users_of(instance_type) -> list[str]:
    """Returns descriptions of live work that uses ``instance_type`` (empty when none)."""
    return [name for check in registry.of(UsageCheck) for name in check.users(instance_type)]
