"""Turning watched Jobs, pods and events into job statuses, instances and event rows.

Registered from ``JobsConfig.ready`` as three kinds sharing one handler, so one batch of a
cluster (any mix of Job, pod and event changes) becomes one transaction:

- ``jobs`` (batch/v1) and ``pods`` (core/v1), all namespaces, selected by the label every
  object the portal creates carries; both caches are indexed by the ``job-id`` label.
- ``events`` (core/v1), all namespaces, no selector: Kubernetes events carry no labels of
  their own, so they are kept when their ``involvedObject`` is a Job or pod in the caches
  above. One stream per cluster rather than one per target namespace: targets come and go
  at run time and a single stream is cheaper than many; the price is reading the events of
  other namespaces, dropped after one dictionary lookup.

For every portal job a batch touches, its status is derived from the caches (the latest
Job object and all its pods) with ``jobs.state.derive`` and applied with
``jobs.state.apply_observed``, exactly as the periodic repair pass does.
"""

from __future__ import annotations

import logging

from django.db import router, transaction
from django.utils.dateparse import parse_datetime

from compute.kube.labels import JOB_ID as LABEL_JOB
from compute.kube.labels import JOB_SELECTOR
from compute.kube.watch import Batch, Event, Kind, register
from compute.models import ComputeTarget
from jobs import state, tasks
from jobs.instances import InstanceRow, save_instances
from jobs.models import LIVE, TERMINAL, Job, JobEvent, Status, Transition
from jobs.notify import broadcast_job
from portal.background import enqueue
from portal.db import commit_without_waiting_for_disk, values_in

log = logging.getLogger(__name__)

MANAGED = JOB_SELECTOR  # every job object, old or new, carries the job-id label
# Events whose Job or pod is not cached yet are handed back this many times, then dropped.
EVENT_ATTEMPTS = 10


def _job_label(obj: dict) -> str | None:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_JOB)


def _involved(obj: dict) -> str | None:
    ref = obj.get("involvedObject") or {}
    if not ref.get("name"):
        return None
    namespace = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace")
    return f"{namespace}/{ref['name']}" if namespace else ref["name"]


def register_kinds() -> None:
    """Registers the jobs, pods and events kinds with the watch engine."""
    register(
        Kind(
            name="jobs",
            path="/apis/batch/v1/jobs",
            handler=handle,
            label_selector=MANAGED,
            index=_job_label,
        )
    )
    register(
        Kind(
            name="pods",
            path="/api/v1/pods",
            handler=handle,
            label_selector=MANAGED,
            index=_job_label,
        )
    )
    register(Kind(name="events", path="/api/v1/events", handler=handle, index=_involved))


def _event_owner(batch: Batch, event: Event) -> str | None:
    """Returns the portal job id an event is about, or None when it is not about ours."""
    target = _involved(event.obj)
    ref = (event.obj.get("involvedObject") or {}).get("kind")
    if target is None or ref not in ("Job", "Pod"):
        return None
    owner = batch.cache("jobs" if ref == "Job" else "pods").get(target)
    return _job_label(owner) if owner is not None else None


def handle(batch: Batch) -> None:
    """Applies one batch: statuses, instances and events of the jobs it touches, in one
    transaction; broadcasts what was saved on commit. Events that cannot be applied yet are
    handed back to the engine."""
    jobs_cache, pods_cache = batch.cache("jobs"), batch.cache("pods")
    if not (jobs_cache.synced and pods_cache.synced):
        # Deriving from half-filled caches could call a job deleted; wait for both lists.
        for event in batch.events:
            batch.retry(event, 0.2)
        return
    touched, deleted, k8s_events = _collect(batch)
    namespaces = _namespaces(batch.cluster_id)
    ids = set(touched)
    if "jobs" in batch.resynced or "pods" in batch.resynced:
        # After a (re)list every live job of the cluster is checked: some may have lost their
        # objects while nobody watched.
        ids |= set(
            Job.objects.filter(compute_id__in=namespaces, status__in=LIVE).values_list(
                "pk", flat=True
            )
        )
    jobs = _jobs(ids, namespaces)
    if not jobs:
        return
    instances = InstanceRow.of_jobs([job.pk for job in jobs])
    # Changed instance rows, written at the end in one statement.
    deferred: list[InstanceRow] = []
    with transaction.atomic():
        commit_without_waiting_for_disk()  # status the cluster can give again (re-list)
        for job in jobs:
            stored = _store_events(job, k8s_events.get(job.pk, []))
            if job.status == Status.NOT_STARTED:
                # job_start records Queued once it created the objects; until then a
                # derived state could be overtaken by that write, so wait for it.
                for event in touched.get(job.pk, []):
                    batch.retry(event, 0.5)
                continue
            if job.status not in LIVE or job.status == Status.CANCEL_REQUESTED:
                if stored:
                    _broadcast(job)
                continue  # the cancel task records Canceled; ended jobs stay as they are
            attempt = max((e.attempt for e in touched.get(job.pk, [])), default=0)
            rows = instances.get(job.pk, {})
            namespace = namespaces[job.compute_id]
            _apply(batch, job, namespace, rows, deferred, job.pk in deleted, stored, attempt)
        save_instances(deferred)


def _collect(batch: Batch) -> tuple[dict[int, list[Event]], set[int], dict[int, list[dict]]]:
    """Sorts a batch's events by portal job: (Job and pod events per job id, ids whose Job
    was deleted, Kubernetes events per job id). Events about a Job or pod not cached yet
    are handed back to the engine."""
    touched: dict[int, list[Event]] = {}
    deleted: set[int] = set()
    k8s_events: dict[int, list[dict]] = {}
    for event in batch.events:
        if event.kind == "events":
            if event.type == "DELETED":
                continue  # events expire in the cluster; the portal keeps its rows
            owner = _event_owner(batch, event)
            if owner is None:
                ref = (event.obj.get("involvedObject") or {}).get("kind")
                if ref in ("Job", "Pod") and event.attempt < EVENT_ATTEMPTS:
                    batch.retry(event, 0.3)  # its pod may not be cached yet
                continue
            job_id = _int(owner)
            if job_id is not None:
                k8s_events.setdefault(job_id, []).append(event.obj)
                touched.setdefault(job_id, [])
            continue
        job_id = _int(_job_label(event.obj))
        if job_id is None:
            continue
        touched.setdefault(job_id, []).append(event)
        if event.kind == "jobs" and event.type == "DELETED":
            deleted.add(job_id)
    return touched, deleted, k8s_events


# What a status needs of a job (not the spec, its YAML or the rest); other fields load when
# touched, one query each.
JOB_FIELDS = {
    *("id", "compute_id", "workspace_id", "created_by_id"),
    *("status", "status_reason", "cluster_uid"),
}


def _namespaces(cluster_id: int) -> dict[int, str]:
    """The namespace of each compute target of the cluster, by target id."""
    return dict(values_in(ComputeTarget, ("id", "namespace"), "cluster_id", [cluster_id]))


def _jobs(ids: set[int], namespaces: dict[int, str]) -> list[Job]:
    """The jobs ``ids`` of the cluster's targets, with ``JOB_FIELDS`` loaded; a job of another
    cluster carrying the same label is left out."""
    # In the model's order of fields, as Model.from_db takes a subset of them.
    names = [f.attname for f in Job._meta.concrete_fields if f.attname in JOB_FIELDS]
    target = names.index("compute_id")
    alias = router.db_for_read(Job)
    return [
        Job.from_db(alias, names, values)
        for values in values_in(Job, names, "id", ids)
        if values[target] in namespaces
    ]


# A Job's final condition may arrive before its pods' last updates (separate streams); the
# handler waits this many rounds of 0.3 s for the pods cache to catch up, then goes ahead.
PODS_BEHIND_ATTEMPTS = 10


def _pods_behind(obj: dict, pods: list[dict]) -> bool:
    """True when the Job counts more ended pods than the pods cache shows ended."""
    status = obj.get("status") or {}
    counted = int(status.get("failed") or 0) + int(status.get("succeeded") or 0)
    ended = sum(1 for p in pods if (p.get("status") or {}).get("phase") in ("Failed", "Succeeded"))
    return ended < counted


def _apply(
    batch: Batch,
    job: Job,
    namespace: str,
    instances: dict[int, InstanceRow],
    deferred: list[InstanceRow],
    deleted: bool,
    stored: bool,
    attempt: int = 0,
) -> None:
    key = f"{namespace}/{job.object_name}"
    obj = batch.cache("jobs").get(key)
    if obj is None and not deleted and not _listed_after_accepted(batch, job):
        # The Job may have been created after the last list and its ADDED not read yet.
        if stored:
            _broadcast(job)
        return
    if obj is not None and obj["metadata"].get("uid") and job.cluster_uid:
        if obj["metadata"]["uid"] != job.cluster_uid:
            return  # an object of the same name but not the one this job created
    pods = [
        p
        for p in batch.cache("pods").indexed(str(job.pk))
        if p["metadata"].get("namespace") == namespace
    ]
    events = batch.cache("events").indexed(key)
    new_status, reason, views = state.derive(obj, pods, events)
    if new_status in TERMINAL and obj is not None and _pods_behind(obj, pods):
        # The final state is stored once and for good: let the pods' last updates arrive so
        # its reason names the instance and exit code rather than the Job's summary.
        event = Event("jobs", "MODIFIED", key, obj, attempt=attempt)
        if attempt < PODS_BEHIND_ATTEMPTS:
            batch.retry(event, 0.3)
            if stored:
                _broadcast(job)
            return
    changed, moved = state.apply_observed(
        job, new_status, reason, views, instances=instances, deferred=deferred
    )
    if (changed or stored) and not moved:
        _broadcast(job, instances=changed, events=stored)
    if moved and job.status in TERMINAL:
        enqueue(tasks.job_logs_store, job.pk)


def _listed_after_accepted(batch: Batch, job: Job) -> bool:
    """True when the last full list of Jobs began after the cluster accepted ``job``: its
    absence from the cache then means the object was deleted."""
    listed = batch.cache("jobs").listed_at
    if listed is None:
        return False
    accepted = (
        Transition.objects.filter(job=job, to_status=Status.QUEUED)
        .order_by("seq")
        .values_list("at", flat=True)
        .first()
    )
    return accepted is not None and accepted < listed


def _store_events(job: Job, objs: list[dict]) -> bool:
    """Creates or updates one JobEvent per event uid; returns True when a row changed."""
    if not objs:
        return False
    wanted: dict[str, dict] = {}
    for obj in objs:
        uid = (obj.get("metadata") or {}).get("uid")
        if not uid:
            continue
        wanted[uid] = {
            "type": obj.get("type") or "",
            "reason": (obj.get("reason") or "")[:128],
            "message": obj.get("message") or "",
            "object": (obj.get("involvedObject") or {}).get("name", ""),
            "count": int(obj.get("count") or 1),
            "first_timestamp": _time(obj.get("firstTimestamp") or obj.get("eventTime")),
            "last_timestamp": _time(
                obj.get("lastTimestamp") or obj.get("eventTime") or obj.get("firstTimestamp")
            ),
        }
    existing = {e.uid: e for e in JobEvent.objects.filter(job=job, uid__in=wanted)}
    create, update = [], []
    for uid, values in wanted.items():
        row = existing.get(uid)
        if row is None:
            create.append(JobEvent(job=job, uid=uid, **values))
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            update.append(row)
    if create:
        JobEvent.objects.bulk_create(create, ignore_conflicts=True)
    if update:
        JobEvent.objects.bulk_update(update, ["type", "reason", "message", "count"] + _TIMES)
    return bool(create or update)


_TIMES = ["first_timestamp", "last_timestamp"]


def _broadcast(job: Job, *, instances: bool = False, events: bool = True) -> None:
    """Repaints what a watch batch changed without a status change: the events table when
    events were stored, the instances table when pods moved (the status line and the list
    row stay as they are)."""

    parts = (("instances",) if instances else ()) + (("events",) if events else ())
    if parts:
        broadcast_job(job, parts=parts, row=False)


def _time(value: str | None):
    return parse_datetime(value) if value else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
