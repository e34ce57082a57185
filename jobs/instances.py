"""A job's instance rows (one per pod index) as the watchers and repairs write them.

A watch batch compares and writes thousands of rows a second, so rows travel as plain
values (``InstanceRow``) and changed ones are written back in one statement.
"""

import operator

from django.utils import timezone

from jobs.models import Instance, Status
from portal.db import update_many, values_in

INSTANCE_FIELDS = ("pod", "node", "phase", "state", "reason", "exit_code", "restarts")

# The INSTANCE_FIELDS of a view or a row as a tuple (compared at C speed, thousands a second).
instance_values = operator.attrgetter(*INSTANCE_FIELDS)


class InstanceRow:
    """An instance row as plain values: what a watch batch compares and writes back, without
    the cost of building a model object for each of thousands of rows."""

    __slots__ = ("pk", "job_id", "index", *INSTANCE_FIELDS, "updated_at")
    COLUMNS = ("pk", "job_id", "index", *INSTANCE_FIELDS)

    def __init__(self, *values) -> None:
        for name, value in zip(self.COLUMNS, values, strict=True):
            setattr(self, name, value)

    @classmethod
    def of_jobs(cls, job_ids) -> dict[int, dict[int, "InstanceRow"]]:
        """The rows of the jobs ``job_ids``, by job id and index."""
        rows: dict[int, dict[int, InstanceRow]] = {}
        for values in values_in(Instance, ("id", *cls.COLUMNS[1:]), "job_id", job_ids):
            row = cls(*values)
            rows.setdefault(row.job_id, {})[row.index] = row
        return rows


def save_instances(rows: list[InstanceRow]) -> None:
    """Writes the instance rows ``state.apply_observed`` deferred, in one statement."""
    now = timezone.now()
    for row in rows:
        row.updated_at = now
    update_many(Instance, rows, [*INSTANCE_FIELDS, "updated_at"])


def store_instances(
    job,
    views,
    *,
    instances: dict | None = None,
    deferred: list[InstanceRow] | None = None,
) -> bool:
    """Stores what ``views`` (``state.InstanceView``) show of the job's instances; returns
    True when a row was created or changed. ``instances``: the job's rows by index when the
    caller has them; changed rows go to ``deferred`` when given (written later with
    ``save_instances``) instead of being saved one by one."""
    if instances is None:
        instances = {i.index: i for i in Instance.objects.filter(job=job)}
    changed = False
    for view in views:
        row = instances.get(view.index)
        values = instance_values(view)
        if row is None:
            Instance.objects.create(
                job=job, index=view.index, **dict(zip(INSTANCE_FIELDS, values, strict=True))
            )
            changed = True
        elif instance_values(row) != values:
            for name, value in zip(INSTANCE_FIELDS, values, strict=True):
                setattr(row, name, value)
            if deferred is None:
                row.save(update_fields=[*INSTANCE_FIELDS, "updated_at"])
            else:
                deferred.append(row)
            changed = True
    return changed


ENDED_PHASES = ("Succeeded", "Failed")


def _ended_phase(status: str) -> str:
    return "Succeeded" if status == Status.COMPLETED else "Failed"


def close_instances(job_id: int, status: str) -> None:
    """Marks the instance rows of a job that ended ``status`` and still look alive (their
    pods went with the cluster, or were never seen ending) as ended with it."""
    alive = Instance.objects.filter(job_id=job_id).exclude(phase__in=ENDED_PHASES)
    alive.filter(reason="").update(reason=f"ended with the job ({status})")
    alive.update(phase=_ended_phase(status), state="terminated", updated_at=timezone.now())


def close_rows(rows, status: str) -> None:
    """The same for rows not written yet (a watch batch's deferred rows)."""
    for row in rows:
        if row.phase not in ENDED_PHASES:
            row.phase, row.state = _ended_phase(status), "terminated"
            row.reason = row.reason or f"ended with the job ({status})"
