"""Celery tasks of the jobs app: start (with bounded retries), cancel, reconcile."""

import functools
import logging
import operator

from celery import shared_task
from django.conf import settings
from django.db import transaction

from compute.gateway import ClusterError
from jobs import gateway, logcopy
from jobs import status as statusmod
from jobs.models import LIVE, Instance, Job, Status

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6


def _backoff(attempt: int) -> float:
    return min(60.0, 2.0**attempt)


@shared_task
def job_start(job_id: int) -> None:
    """Renders and creates the job's objects; idempotent, retried while the cluster is unreachable."""
    from jobs import manifests, services

    job = Job.objects.select_related("compute__cluster", "workspace").filter(pk=job_id).first()
    if job is None or job.status != Status.NOT_STARTED:
        return
    target = job.compute
    instance = target.cluster.instance_types.filter(name=job.instance_type).first()
    instance_type = instance.as_manifest_dict() if instance else manifests.DEFAULT_INSTANCE_TYPE
    code = None
    if job.spec["code"] is not None:
        token = services.code_token_issue(job)
        code = {"url": f"{settings.PUBLIC_URL}/api/v1/job-code/{job.pk}/", "token": token}
    objects = manifests.render_job(
        spec=job.spec,
        job_id=job.pk,
        workspace=job.workspace.slug,
        target=target.name,
        namespace=target.namespace,
        instance_type=instance_type,
        image=job.image,
        priority_class=settings.JOB_PRIORITY_CLASSES,
        code=code,
    )
    Job.objects.filter(pk=job.pk).update(submit_attempts=job.submit_attempts + 1)
    try:
        uid = gateway.create_objects(target.cluster, target.namespace, objects)
    except ClusterError as err:
        attempt = job.submit_attempts + 1
        if err.kind == "unreachable" and attempt < MAX_ATTEMPTS:
            delay = _backoff(attempt)
            services.record_transition(
                job,
                Status.NOT_STARTED,
                f"waiting for the cluster (attempt {attempt} of {MAX_ATTEMPTS}, next in {delay:.0f}s): {err.message}",
            )
            from portal.background import run_later

            run_later(job_start, delay, job.pk)
            return
        if err.kind == "unreachable":
            services.record_transition(
                job,
                Status.FAILED,
                f"Gave up after {attempt} attempts to reach the cluster: {err.message}",
            )
        else:
            services.record_transition(
                job, Status.FAILED, f"The cluster refused the job: {err.message}"
            )
        return
    Job.objects.filter(pk=job.pk).update(cluster_uid=uid)
    services.record_transition(
        job, Status.QUEUED, "accepted by the cluster; waiting for the scheduler"
    )


@shared_task
def job_cancel(job_id: int) -> None:
    from jobs import services

    job = Job.objects.select_related("compute__cluster").filter(pk=job_id).first()
    if job is None or job.status != Status.CANCEL_REQUESTED:
        return
    try:
        gateway.delete_objects(job.compute.cluster, job.compute.namespace, job.pk)
    except ClusterError as err:
        Job.objects.filter(pk=job.pk).update(status_reason=f"cancel pending: {err.message}")
        return
    services.record_transition(
        job, Status.CANCELED, "canceled by the user; the cluster objects were deleted"
    )


@shared_task
def job_sync(job_id: int) -> None:
    """Reads the job's objects from the cluster and records what changed."""
    from jobs.notify import broadcast_log

    job = Job.objects.select_related("compute__cluster").filter(pk=job_id).first()
    if job is None or job.status not in LIVE or job.status == Status.NOT_STARTED:
        return
    if job.status == Status.CANCEL_REQUESTED:
        job_cancel(job_id)
        return
    try:
        obj, pods, events = gateway.read_state(
            job.compute.cluster, job.compute.namespace, job.pk, job.object_name
        )
    except ClusterError as err:
        log.info("job %s: cannot read its state: %s", job.name, err.message)
        return
    views = _repair(job, obj, pods, events)[1]
    if _store_logs(job, views):
        broadcast_log(job)


def _repair(job: Job, obj: dict | None, pods: list[dict], events: list[dict]):
    """Records what the cluster shows of ``job``; returns (anything changed, the views)."""
    from jobs.notify import broadcast_job

    new_status, reason, views = statusmod.derive(obj, pods, events)
    with transaction.atomic():
        changed, moved = job_apply_state(job, new_status, reason, views)
        if changed and not moved:
            broadcast_job(job, parts=("instances",), row=False)
    return changed or moved, views


# The forward path of a job; derived states earlier on it than the job's are old news.
STATUS_ORDER = [
    Status.QUEUED,
    Status.PREPARING,
    Status.RUNNING,
    Status.FINALIZING,
    Status.COMPLETED,
]


INSTANCE_FIELDS = ("pod", "node", "phase", "state", "reason", "exit_code", "restarts")


# The INSTANCE_FIELDS of a view or a row as a tuple (compared at C speed, thousands a second).
_instance_values = operator.attrgetter(*INSTANCE_FIELDS)


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
        from portal.db import values_in

        rows: dict[int, dict[int, InstanceRow]] = {}
        for values in values_in(Instance, ("id", *cls.COLUMNS[1:]), "job_id", job_ids):
            row = cls(*values)
            rows.setdefault(row.job_id, {})[row.index] = row
        return rows


def save_instances(rows: list[InstanceRow]) -> None:
    """Writes the instance rows ``job_apply_state`` deferred, in one statement."""
    from django.utils import timezone

    from portal.db import update_many

    now = timezone.now()
    for row in rows:
        row.updated_at = now
    update_many(Instance, rows, [*INSTANCE_FIELDS, "updated_at"])


def job_apply_state(
    job: Job,
    new_status: str,
    reason: str,
    views: list[statusmod.InstanceView],
    *,
    instances: dict[int, Instance] | dict[int, InstanceRow] | None = None,
    deferred: list[InstanceRow] | None = None,
) -> tuple[bool, bool]:
    """Stores the instances and moves ``job`` towards ``new_status``, as the cluster shows it.

    Returns (instances changed, status or reason changed). Guarantees: each transition is
    stored once and in order (states a fast job skipped are filled in), and a job never moves
    backwards along STATUS_ORDER (a replayed old event cannot turn Running into Queued).
    ``instances`` are the job's current rows by index when the caller already has them;
    changed rows are appended to ``deferred`` when given (the caller writes them with
    ``save_instances``, one statement for a whole batch) instead of saved one by one.
    Call inside a transaction; broadcasts happen on commit.
    """
    from jobs import services

    if instances is None:
        instances = {i.index: i for i in Instance.objects.filter(job=job)}
    changed_instances = False
    for view in views:
        row = instances.get(view.index)
        values = _instance_values(view)
        if row is None:
            Instance.objects.create(
                job=job, index=view.index, **dict(zip(INSTANCE_FIELDS, values, strict=True))
            )
            changed_instances = True
        elif _instance_values(row) != values:
            for name, value in zip(INSTANCE_FIELDS, values, strict=True):
                setattr(row, name, value)
            if deferred is None:
                row.save(update_fields=[*INSTANCE_FIELDS, "updated_at"])
            else:
                deferred.append(row)
            changed_instances = True
    current = job.status
    if new_status == current and reason == job.status_reason:
        return changed_instances, False  # nothing to record: spare record_transition's lock
    if (
        new_status in STATUS_ORDER
        and current in STATUS_ORDER
        and STATUS_ORDER.index(new_status) < STATUS_ORDER.index(current)
    ):
        return changed_instances, False
    # Pass through the intermediate states a fast job skipped, in order.
    if new_status in STATUS_ORDER and current in STATUS_ORDER:
        for step in STATUS_ORDER[STATUS_ORDER.index(current) + 1 : STATUS_ORDER.index(new_status)]:
            if step != Status.FINALIZING:
                services.record_transition(job, step, "")
    if (
        new_status == Status.FAILED
        and current in (Status.QUEUED, Status.PREPARING)
        and any(v.state == "terminated" for v in views)
    ):
        services.record_transition(job, Status.RUNNING, "")
    moved = services.record_transition(job, new_status, reason)
    return changed_instances, moved


@shared_task
def job_logs_store(job_id: int) -> None:
    """Copies the logs of a job's started instances into the portal (queued when it ends)."""
    from jobs.notify import broadcast_log

    job = Job.objects.select_related("compute__cluster").filter(pk=job_id).first()
    if job is not None and _store_logs(job, list(job.instances.all())):
        broadcast_log(job)


def containers_of(job: Job) -> list[str]:
    """The containers of the job's pods that write logs: init steps first, then main."""
    names = []
    if job.spec.get("code"):
        names.append("fetch-code")
    inputs = (job.spec.get("inputs") or {}).values()
    if any(
        i.get("source") == "url" and i.get("mode") != "direct"
        for i in inputs
        if isinstance(i, dict)
    ):
        names.append("fetch-inputs")
    return [*names, "main"]


def _store_logs(job: Job, views) -> bool:
    """Copies what is new in the logs of every started instance's containers into the portal
    (capped, keeping the end). Returns True when any stored log changed.

    Each copy asks the cluster only for what came since its last line (``sinceTime``, with
    timestamps), so following a long, chatty job costs its new lines, not its whole log
    every time, and lines the node has rotated away stay in the portal's copy."""
    from jobs.models import InstanceLog

    cap = settings.JOB_LOG_MAX_BYTES
    changed = False
    # The copies without their text: appending touches only the tail (the text loads when
    # a fold needs it).
    stored = {
        (log.index, log.container): log for log in InstanceLog.objects.filter(job=job).defer("text")
    }
    for view in views:
        if view.state not in {"running", "terminated", "initializing"}:
            continue
        for container in containers_of(job):
            if container == "main" and view.state == "initializing":
                continue
            copy = stored.get((view.index, container)) or InstanceLog(
                job=job, index=view.index, container=container
            )
            read = functools.partial(
                gateway.read_log_since,
                job.compute.cluster,
                job.compute.namespace,
                view.pod,
                container=container,
            )
            base = (copy.cursor_ns, copy.cursor_lines)
            fields: set[str] = set()
            restarted = False
            if container == "main" and view.restarts > copy.restarts:
                try:  # what the crashed instance wrote after the last copy: its last words
                    fields.update(
                        logcopy.extend(copy, read(since_ns=copy.cursor_ns, previous=True), cap)
                    )
                except ClusterError:
                    pass  # none kept by the node
                copy.restarts, restarted = view.restarts, True
            try:  # not started yet, or the pod is gone: the stored copy stands
                fields.update(logcopy.extend(copy, read(since_ns=copy.cursor_ns), cap))
            except ClusterError:
                pass
            if (fields or restarted) and logcopy.save(copy, base, [*fields, "restarts"]):
                changed = changed or bool(fields)
    return changed


MAX_FOLLOWED = 50


@shared_task
def follow_logs() -> None:
    """Keeps the stored logs of running jobs current and pushes the new text to their pages.

    Runs every couple of seconds. A page receives the log's current tail (rendered from
    the store), so a slow browser or a reconnect never causes gaps or duplicates, and the
    cluster is read at this pace however many people watch.
    """
    from jobs.notify import broadcast_log

    running = Job.objects.select_related("compute__cluster").filter(status=Status.RUNNING)
    for job in running.order_by("-started_at")[:MAX_FOLLOWED]:
        if _store_logs(job, list(job.instances.all())):
            broadcast_log(job)


# Jobs whose objects one pair of lists reads during a repair pass.
RECONCILE_CHUNK = 200


@shared_task
def reconcile_jobs() -> None:
    """Compares every live job with its cluster and repairs what a missed event left wrong.

    Two lists (the Jobs and their pods, by label) serve up to ``RECONCILE_CHUNK`` jobs of a
    compute target: with 2,000 running jobs a pass had made some 16,000 requests (a read
    and a pod list per job, and every pod's whole log) and outlasted its 30 s period. What
    a chunk read is applied at once, so it is at most a chunk's work old; a change the
    watcher recorded meanwhile and this pass undid is put right by the next pass. Logs are
    copied here only for a job this pass repaired: ``follow_logs`` keeps running jobs'
    logs, and a job's final logs are stored when it ends."""
    live = (
        Job.objects.filter(status__in=LIVE)
        .exclude(status=Status.NOT_STARTED)
        .select_related("compute__cluster")
        .order_by("compute_id", "pk")
    )
    by_target: dict[int, list[Job]] = {}
    for job in live:
        by_target.setdefault(job.compute_id, []).append(job)
    for jobs in by_target.values():
        target = jobs[0].compute
        for start in range(0, len(jobs), RECONCILE_CHUNK):
            chunk = jobs[start : start + RECONCILE_CHUNK]
            try:
                objects, pods = gateway.read_states(
                    target.cluster, target.namespace, [job.pk for job in chunk]
                )
            except ClusterError as err:
                log.info("compute target %s: cannot list its jobs: %s", target.name, err.message)
                break
            for job in chunk:
                try:
                    _reconcile_one(job, objects, pods)
                except Exception:  # one job's failure must not stop the pass
                    log.exception("reconciling job %s failed", job.name)


def _reconcile_one(job: Job, objects: dict, pods: dict) -> None:
    """Repairs ``job`` from the ``objects`` and ``pods`` a chunk's lists read."""
    from jobs.notify import broadcast_log

    if job.status == Status.CANCEL_REQUESTED:
        job_cancel(job.pk)
        return
    obj = objects.get(job.object_name)
    mine = pods.get(str(job.pk), [])
    events = []
    if obj is not None and not mine:  # what explains a Job without pods (rare)
        try:
            events = gateway.read_events(
                job.compute.cluster, job.compute.namespace, job.object_name
            )
        except ClusterError as err:
            log.info("job %s: cannot read its events: %s", job.name, err.message)
            return
    changed, views = _repair(job, obj, mine, events)
    if changed and _store_logs(job, views):
        broadcast_log(job)
