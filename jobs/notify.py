"""Live fragments of the jobs app: a job's row and detail parts, and the "your job ended" notice."""

from typing import NamedTuple

from django.conf import settings
from django.template.loader import get_template, render_to_string

from jobs.instances import INSTANCE_FIELDS
from jobs.models import Instance, InstanceLog, Job, JobEvent, Transition
from jobs.selectors import TRUNCATION_MARK
from portal import live
from portal.db import values_in

DETAIL_PARTS = ("status", "timeline", "instances", "events", "log")
# What a status change repaints (logs are pushed on their own by broadcast_log).
STATUS_PARTS = ("status", "timeline", "instances", "events")
LOG_TAIL_LINES = 500
# Parts whose templates use nothing of the job but its pk.
PK_ONLY_PARTS = {"timeline", "instances", "events"}


class JobRef(NamedTuple):
    """Stands for a job in templates that only need its pk."""

    pk: int


def render_job_detail(job_id: int, parts: tuple[str, ...] = DETAIL_PARTS) -> str:
    """The live ``parts`` of a job's page, marked for out-of-band swaps."""
    return render_job_details([(job_id, parts)]).get((job_id, parts), "")


def render_job_snapshots(job_ids: list[int]) -> dict[int, str]:
    """Every live part of each of ``job_ids`` (``{id: html}``), rendered together."""
    rendered = render_job_details([(pk, DETAIL_PARTS) for pk in job_ids])
    return {pk: html for (pk, _parts), html in rendered.items() if html}


def render_job_details(wanted: list[tuple[int, tuple[str, ...]]]) -> dict:
    """Renders the ``(job id, parts)`` in ``wanted`` with one query per related table for all
    of them; returns ``{(job id, parts): html}`` (a job that no longer exists renders "")."""

    needed = {part for _pk, parts in wanted for part in parts}
    pks = {pk for pk, _ in wanted}
    if needed <= PK_ONLY_PARTS:  # the usual watcher repaint: no Job row to load
        found = {pk: JobRef(pk) for (pk,) in values_in(Job, ("id",), "id", pks)}
    else:
        found = Job.objects.select_related("compute", "created_by").in_bulk(pks)
    # Related rows of every job at once, as plain dicts (no model instances), grouped in
    # Python (cheaper than prefetch_related).
    related: dict[str, dict[int, list]] = {}
    for part, name, model, fields in _related():
        rows = related[name] = {pk: [] for pk in found}
        if part not in needed or not found:
            continue
        order = ["job_id" if f == "job" else f for f in model._meta.ordering]  # no join
        if fields:  # plain columns: read without building a query (the watcher's repaints)
            read = values_in(model, fields, "job_id", found)
            found_rows = [dict(zip(fields, values, strict=True)) for values in read]
            found_rows.sort(key=lambda row: [row[f] for f in order])
        else:
            query = model.objects.filter(job_id__in=list(found)).order_by(*order)
            found_rows = query.values()
        for row in found_rows:
            rows[row["job_id"]].append(row)
    logs: dict[int, list] = {pk: [] for pk in found}
    if "log" in needed and found:
        for row in InstanceLog.objects.filter(job_id__in=list(found)).order_by(
            "job_id", "index", "container"
        ):
            logs[row.job_id].append(row)
    templates = {part: get_template(f"jobs/job_detail.html#{part}") for part in needed}
    out = {}
    for pk, parts in wanted:
        job = found.get(pk)
        if job is None:
            out[(pk, parts)] = ""
            continue
        context = {
            "job": job,
            **{name: rows[pk] for name, rows in related.items()},
            "logs": log_tails(job, logs[pk]) if "log" in parts else [],
            "oob": True,
        }
        out[(pk, parts)] = "".join(templates[part].render(context) for part in parts)
    return out


def _related():
    """(part, context name, model, fields read: all when empty) of the related rows each
    part shows."""
    return (
        ("timeline", "transitions", Transition, ()),
        ("instances", "instances", Instance, ("job_id", "index", *INSTANCE_FIELDS)),
        ("events", "events", JobEvent, ()),
    )


def render_job_rows(job_ids: list[int]) -> dict:
    """The job list rows of ``job_ids`` (``{id: html}``), for out-of-band swaps."""

    template = get_template("jobs/job_list.html#job-row")
    found = Job.objects.select_related("compute", "created_by").in_bulk(job_ids)
    return {pk: template.render({"job": job, "oob": True}) for pk, job in found.items()}


def log_tails(job, logs=None) -> list[dict]:
    """The last lines of each instance's stored log, with a mark when lines were cut
    (``logs``: the job's InstanceLog rows in index, container order, when already read)."""

    tails = []
    for log in logs if logs is not None else job.logs.order_by("index", "container"):
        lines = log.full_text.splitlines()
        cut = len(lines) > LOG_TAIL_LINES
        tails.append(
            {
                "index": log.index,
                "container": log.container,
                "lines": lines[-LOG_TAIL_LINES:],
                "hidden": len(lines) - LOG_TAIL_LINES if cut else 0,
                "truncated": TRUNCATION_MARK.format(cap=settings.JOB_LOG_MAX_BYTES)
                if log.truncated
                else "",
            }
        )
    return tails


def broadcast_log(job) -> None:
    """Pushes the job's log part (tails of every instance) to its page."""

    def render() -> str:

        fresh = Job.objects.filter(pk=job.pk).first()
        if fresh is None:
            return ""
        return render_to_string(
            "jobs/job_detail.html#log", {"job": fresh, "logs": log_tails(fresh), "oob": True}
        )

    live.broadcast(live.group_name("jobs.job", job.pk), render, key=f"job-{job.pk}-log")


def broadcast_job(
    job, *, ended: bool = False, parts: tuple[str, ...] = STATUS_PARTS, row: bool = True
) -> None:
    """Pushes the job's changed ``parts`` to ``jobs.job.<id>`` and, with ``row``, its line in
    the workspace's job list."""

    group = live.group_name("jobs.job", job.pk)
    detail = live.Fragment(render_job_details, (job.pk, tuple(parts)))
    live.broadcast(group, detail, key=f"job-{job.pk}-{'-'.join(parts)}")
    if row:
        workspace = live.group_name("portal.workspace", job.workspace_id)
        live.broadcast(workspace, live.Fragment(render_job_rows, job.pk), key=f"job-{job.pk}-row")
    if ended:

        def render_notice() -> str:

            fresh = Job.objects.get(pk=job.pk)
            return render_to_string("jobs/job_notice.html", {"job": fresh})

        live.broadcast(live.user_group(job.created_by_id), render_notice)
