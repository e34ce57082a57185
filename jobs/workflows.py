"""What the jobs app's background tasks do: start a job in its cluster, cancel it, repair it
from what the cluster shows, and keep running jobs' logs current.

Each function takes a job row and talks to the cluster through ``jobs.gateway`` only; the
Celery tasks in ``jobs.tasks`` fetch the row by id and call them. Nothing here queues a
task: a start the cluster could not take yet answers how long to wait, and the task
schedules itself again.
"""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compute.kube.errors import ClusterError
from jobs import gateway, logcopy, manifests, state
from jobs.models import LIVE, Job, Status
from jobs.notify import broadcast_job, broadcast_log
from portal import audit
from tracking import services as tracking

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# Jobs whose objects one pair of lists reads during a repair pass.
RECONCILE_CHUNK = 200
# Running jobs whose logs one follow pass copies, newest first.
MAX_FOLLOWED = 50


def backoff(attempt: int) -> float:
    """Seconds to wait before start attempt ``attempt`` + 1."""
    return min(60.0, 2.0**attempt)


def code_token_issue(job: Job, *, hours: int = 24) -> str:
    """Issues the job-scoped credential its pods use to fetch the code; only the hash is kept."""
    raw = "kpc_" + secrets.token_urlsafe(32)
    job.code_token_hash = hashlib.sha256(raw.encode()).hexdigest()
    job.code_token_expires = timezone.now() + timedelta(hours=hours)
    Job.objects.filter(pk=job.pk).update(
        code_token_hash=job.code_token_hash, code_token_expires=job.code_token_expires
    )
    return raw


def start(job: Job) -> float | None:
    """Renders the job's objects from what it was admitted with and creates them
    (idempotent). Returns the seconds to wait before trying again while the cluster is
    unreachable, else None (started, or failed with the cluster's reason)."""
    token = code_token_issue(job) if job.spec["code"] is not None else None
    run_token = tracking.run_token_issue(job.run) if job.run_id is not None else None
    objects = manifests.render_for(job, code_token=token, tracking_token=run_token)
    attempt = job.submit_attempts + 1
    counted = {"submit_attempts": attempt}  # stored with the outcome of this attempt
    try:
        uid = gateway.create_objects(job.compute.cluster, job.compute.namespace, objects)
    except ClusterError as err:
        if err.kind == "unreachable" and attempt < MAX_ATTEMPTS:
            delay = backoff(attempt)
            state.record_transition(
                job,
                Status.NOT_STARTED,
                f"waiting for the cluster (attempt {attempt} of {MAX_ATTEMPTS}, next in {delay:.0f}s): {err.message}",
                fields=counted,
            )
            return delay
        reason = (
            f"Gave up after {attempt} attempts to reach the cluster: {err.message}"
            if err.kind == "unreachable"
            else f"The cluster refused the job: {err.message}"
        )
        state.record_transition(job, Status.FAILED, reason, fields=counted)
        _audit(job, "start-failed", reason)
        return None
    state.record_transition(
        job,
        Status.QUEUED,
        "accepted by the cluster; waiting for the scheduler",
        fields={**counted, "cluster_uid": uid},
    )
    _audit(job, "start", f"{len(objects)} objects created in namespace {job.compute.namespace}")
    return None


def _audit(job: Job, action: str, summary: str) -> None:
    """Records what background work did for the job's submitter."""
    audit.record(
        action=action,
        object_type="job",
        object_id=job.pk,
        object_name=job.name,
        workspace=job.workspace,
        summary=summary,
        actor=job.created_by,
        via="background",
    )


def cancel(job: Job) -> None:
    """Deletes the job's objects and records Canceled; keeps trying on the next pass when
    the cluster cannot be reached."""
    try:
        gateway.delete_objects(job.compute.cluster, job.compute.namespace, job.pk)
    except ClusterError as err:
        Job.objects.filter(pk=job.pk).update(status_reason=f"cancel pending: {err.message}")
        return
    state.record_transition(
        job, Status.CANCELED, "canceled by the user; the cluster objects were deleted"
    )
    _audit(job, "delete-objects", "canceled: the cluster objects were deleted")


def sync(job: Job) -> None:
    """Reads the job's objects from the cluster and records what changed."""
    if job.status == Status.CANCEL_REQUESTED:
        cancel(job)
        return
    try:
        obj, pods, events = gateway.read_state(
            job.compute.cluster, job.compute.namespace, job.pk, job.object_name
        )
    except ClusterError as err:
        log.info("job %s: cannot read its state: %s", job.name, err.message)
        return
    views = repair(job, obj, pods, events)[1]
    if logcopy.store_logs(job, views):
        broadcast_log(job)


def repair(job: Job, obj: dict | None, pods: list[dict], events: list[dict]):
    """Records what the cluster shows of ``job``; returns (anything changed, the views)."""
    new_status, reason, views = state.derive(obj, pods, events)
    with transaction.atomic():
        changed, moved = state.apply_observed(job, new_status, reason, views)
        if changed and not moved:
            broadcast_job(job, parts=("instances",), row=False)
    return changed or moved, views


def store_logs(job: Job) -> None:
    """Copies the logs of the job's started instances and pushes them to its page."""
    if logcopy.store_logs(job, list(job.instances.all())):
        broadcast_log(job)


def follow_logs() -> None:
    """Keeps the stored logs of running jobs current and pushes the new text to their pages.

    A page receives the log's current tail (rendered from the store), so a slow browser or
    a reconnect never causes gaps or duplicates, and the cluster is read at this pace
    however many people watch.
    """
    running = Job.objects.select_related("compute__cluster").filter(status=Status.RUNNING)
    for job in running.order_by("-started_at")[:MAX_FOLLOWED]:
        store_logs(job)


def stalled_starts() -> list[int]:
    """The jobs whose start nobody is working on: NotStarted with no news for
    ``START_REQUEUE_SECONDS`` (a start attempt or a retry records one each time; a start
    task lost with a crashed worker records none). Their clocks are reset, so a job is
    handed out again once per period, not on every pass; starting twice is safe (creation
    is idempotent)."""
    cutoff = timezone.now() - timedelta(seconds=settings.START_REQUEUE_SECONDS)
    stalled = Job.objects.filter(status=Status.NOT_STARTED, updated_at__lt=cutoff)
    jobs = list(stalled.only("id", "workspace_id", "created_by_id")[:RECONCILE_CHUNK])
    for job in jobs:  # the page says why it still waits; the clock restarts
        state.record_transition(
            job,
            Status.NOT_STARTED,
            "waiting for a worker: the start was lost (a worker stopped?) and is queued again",
        )
    if jobs:
        log.warning("queued the start of %d job(s) again (lost with a worker?)", len(jobs))
    return [job.pk for job in jobs]


def reconcile() -> None:
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
        _reconcile_target(jobs)


def _reconcile_target(jobs: list[Job]) -> None:
    target = jobs[0].compute
    for first in range(0, len(jobs), RECONCILE_CHUNK):
        chunk = jobs[first : first + RECONCILE_CHUNK]
        try:
            objects, pods = gateway.read_states(
                target.cluster, target.namespace, [job.pk for job in chunk]
            )
        except ClusterError as err:
            log.info("compute target %s: cannot list its jobs: %s", target.name, err.message)
            return
        for job in chunk:
            try:
                _reconcile_one(job, objects, pods)
            except Exception:  # one job's failure must not stop the pass
                log.exception("reconciling job %s failed", job.name)


def _reconcile_one(job: Job, objects: dict, pods: dict) -> None:
    """Repairs ``job`` from the ``objects`` and ``pods`` a chunk's lists read."""
    if job.status == Status.CANCEL_REQUESTED:
        cancel(job)
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
    changed, views = repair(job, obj, mine, events)
    if changed and logcopy.store_logs(job, views):
        broadcast_log(job)
