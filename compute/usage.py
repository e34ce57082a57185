"""Who uses an instance type right now.

Apps that run work (jobs, deployments) register a function returning the names
of their live work using a given instance type; compute asks before deleting one.
This keeps the dependency one way: jobs imports compute, never the reverse.
"""

from collections.abc import Callable

_checks: list[Callable[[object], list[str]]] = []


def register(check: Callable[[object], list[str]]) -> None:
    if check not in _checks:
        _checks.append(check)


def users_of(instance_type) -> list[str]:
    """Returns descriptions of live work that uses ``instance_type`` (empty when none)."""
    return [name for check in _checks for name in check(instance_type)]
