"""The portal's copy of a container's log, extended with what the cluster logged since.

The cluster is asked for the lines since the copy's last one, each with its timestamp
(``timestamps=true``); ``sinceTime`` counts in whole seconds, so the answer starts at that
second and the lines already copied are recognised by timestamp and skipped: those before
the copy's last timestamp, and as many as the copy holds at exactly that timestamp.
``store_logs`` copies what is new for every started instance of a job.
"""

import functools
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from compute.kube.errors import ClusterError
from jobs import gateway
from jobs.gateway import NS
from jobs.models import InstanceLog, Job


def stamp_ns(stamp: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 timestamp as the kubelet writes them
    (``2026-11-29T10:00:00.123456789Z``); None when ``stamp`` is not one."""
    if not stamp.endswith("Z"):
        return None
    whole, _, fraction = stamp[:-1].partition(".")
    if fraction and not fraction.isdigit():
        return None
    seconds = _seconds(whole)
    if seconds is None:
        return None
    return seconds * NS + int((fraction + "000000000")[:9])


@functools.lru_cache(maxsize=1024)
def _seconds(whole: str) -> int | None:
    """Seconds since the epoch of ``2026-11-29T10:00:00`` (UTC); a log's lines share few
    seconds, and parsing each line's was most of a large first copy's time."""
    try:
        return int(datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


# Bytes of new lines kept apart (the copy's ``tail``) before they are folded into its
# ``text``: a chatty job's copy is rewritten whole once per this much output, not per pass.
FOLD_AT = 256 * 1024


def extend(copy, raw: str, cap: int, *, fold_at: int = FOLD_AT) -> list[str]:
    """Adds to ``copy`` (an ``InstanceLog``) the lines of ``raw`` it does not hold yet and
    moves its cursor. New lines go to its ``tail``; once that holds ``fold_at`` bytes it is
    folded into ``text``, keeping the last ``cap`` bytes (whole lines, the copy marked
    truncated when it cut), so a copy holds at most ``cap`` + ``fold_at`` bytes. Returns
    the fields that changed (save those).

    A copy without a cursor (the first one, or one made before copies had cursors) is
    replaced by what ``raw`` holds, which is then the container's whole log."""
    lines = raw.splitlines()
    if lines and stamp_ns(lines[0].partition(" ")[0]) is None:
        # An answer without timestamps: the whole log as it stands, as copies once were.
        return _replace(copy, raw, cap, cursor=(0, 0))
    cursor, same = copy.cursor_ns, copy.cursor_lines
    skip = same
    fresh: list[str] = []
    for line in lines:
        stamp, _, text = line.partition(" ")
        at = stamp_ns(stamp)
        if at is None or at < copy.cursor_ns:
            continue
        if at == copy.cursor_ns and skip:
            skip -= 1
            continue
        fresh.append(text)
        cursor, same = (at, same + 1) if at == cursor else (at, 1)
    if not fresh:
        return []
    body = "".join(f"{text}\n" for text in fresh)
    if not copy.cursor_ns:
        return _replace(copy, body, cap, cursor=(cursor, same))
    copy.tail += body
    copy.cursor_ns, copy.cursor_lines = cursor, same
    if len(copy.tail.encode()) < fold_at:
        return ["tail", "cursor_ns", "cursor_lines"]
    return _replace(copy, copy.text + copy.tail, cap, cursor=(cursor, same))


def _replace(copy, text: str, cap: int, *, cursor: tuple[int, int]) -> list[str]:
    """Makes ``text`` (capped) the whole copy."""
    data = text.encode()
    truncated = copy.truncated if copy.cursor_ns else False
    if len(data) > cap:
        data = data[-cap:]
        data = data[data.find(b"\n") + 1 :]
        text = data.decode(errors="ignore")
        truncated = True
    before = (copy.text, copy.tail, copy.truncated, copy.cursor_ns, copy.cursor_lines)
    copy.text, copy.tail, copy.truncated = text, "", truncated
    copy.cursor_ns, copy.cursor_lines = cursor
    if before == (text, "", truncated, *cursor):
        return []
    return ["text", "tail", "truncated", "cursor_ns", "cursor_lines"]


def save(copy, base: tuple[int, int], fields: list[str]) -> bool:
    """Stores ``fields`` of ``copy`` unless another pass moved the stored copy on since it
    was read at cursor ``base`` (passes can overlap: a follow pass running long, a job's
    final copy, the repair pass). The copy is written as a whole value, never appended to
    in SQL, so the pass that loses writes nothing and the next one carries on from the
    cursor that was stored. Returns whether this pass's copy was stored."""
    if copy.pk is None:
        try:
            with transaction.atomic():
                copy.save()
        except IntegrityError:  # another pass made the first copy
            return False
        return True
    values = {name: getattr(copy, name) for name in fields}
    values["updated_at"] = timezone.now()
    cursor_ns, cursor_lines = base
    stored = InstanceLog.objects.filter(
        pk=copy.pk, cursor_ns=cursor_ns, cursor_lines=cursor_lines
    ).update(**values)
    return stored == 1


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


LOGGING_STATES = frozenset({"running", "terminated", "initializing"})


def store_logs(job: Job, views) -> bool:
    """Copies what is new in the logs of every started instance's containers into the portal
    (capped, keeping the end). Returns True when any stored log changed.

    Each copy asks the cluster only for what came since its last line (``sinceTime``, with
    timestamps), so following a long, chatty job costs its new lines, not its whole log
    every time, and lines the node has rotated away stay in the portal's copy."""
    # The copies without their text: appending touches only the tail (the text loads when
    # a fold needs it).
    stored = {
        (log.index, log.container): log for log in InstanceLog.objects.filter(job=job).defer("text")
    }
    changed = False
    for view in views:
        if view.state not in LOGGING_STATES:
            continue
        for container in containers_of(job):
            if container == "main" and view.state == "initializing":
                continue
            copy = stored.get((view.index, container)) or InstanceLog(
                job=job, index=view.index, container=container
            )
            changed = _copy_container(job, view, copy) or changed
    return changed


def _copy_container(job: Job, view, copy: InstanceLog) -> bool:
    """Extends one container's copy; True when new lines were stored."""
    cap = settings.JOB_LOG_MAX_BYTES
    read = functools.partial(
        gateway.read_log_since,
        job.compute.cluster,
        job.compute.namespace,
        view.pod,
        container=copy.container,
    )
    base = (copy.cursor_ns, copy.cursor_lines)
    fields: set[str] = set()
    restarted = False
    if copy.container == "main" and view.restarts > copy.restarts:
        try:  # what the crashed instance wrote after the last copy: its last words
            fields.update(extend(copy, read(since_ns=copy.cursor_ns, previous=True), cap))
        except ClusterError:
            pass  # none kept by the node
        copy.restarts, restarted = view.restarts, True
    try:  # not started yet, or the pod is gone: the stored copy stands
        fields.update(extend(copy, read(since_ns=copy.cursor_ns), cap))
    except ClusterError:
        pass
    if not (fields or restarted):
        return False
    return save(copy, base, [*fields, "restarts"]) and bool(fields)
