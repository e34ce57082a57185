"""Small helpers shared by test modules (fixtures live in conftest.py)."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """Polls ``predicate`` until it returns something truthy and returns that; fails the test
    after ``timeout`` seconds. Tests wait for state, never assert how long it took."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last value {value!r}"
            )
        time.sleep(0.03)


def make_jobs(target, count: int, *, created_by, prefix: str = "bulk", start: int = 0, **fields):
    """``count`` Job rows on compute ``target`` in one insert (no cluster objects), named
    ``<prefix>-<n>``; ``fields`` override the defaults (spec, status, ...)."""
    from jobs.models import Job

    defaults = {
        "instance_type": "defaultinstancetype",
        "spec_yaml": "{}",
        "spec": {},
        "image": "busybox",
    }
    return Job.objects.bulk_create(
        Job(
            workspace=target.workspace,
            compute=target,
            name=f"{prefix}-{i}",
            created_by=created_by,
            **{**defaults, **fields},
        )
        for i in range(start, start + count)
    )


def submit_job(client, text: str, name: str, **overrides):
    """Submits the job spec ``text`` to team-a through the API as ``name`` (``overrides``
    as the API takes them); asserts it was accepted and returns its row."""
    from jobs.models import Job

    response = client.post(
        "/api/v1/workspaces/team-a/jobs/",
        {"yaml": text, "overrides": {"name": name, **overrides}},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    return Job.objects.get(name=name)
