"""The portal's copies of container logs: only what is new is asked for and added, nothing
twice, and what the node rotated away stays."""

import pytest

from jobs import gateway, logcopy, tasks
from jobs.models import InstanceLog, Job, Status
from tests.helpers import submit_job, wait_for

S = logcopy.NS


def stamped(*lines: tuple[int, str]) -> str:
    """Log text as the API gives it with timestamps: (nanoseconds since the epoch, text)."""
    from datetime import UTC, datetime

    out = []
    for at, text in lines:
        whole = datetime.fromtimestamp(at // S, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        out.append(f"{whole}.{at % S:09d}Z {text}\n")
    return "".join(out)


BASE = 1_800_000_000 * S  # a whole second


def fresh() -> InstanceLog:
    return InstanceLog(index=0, container="main")


def test_stamps_parse_as_the_kubelet_writes_them():
    assert logcopy.stamp_ns("2027-01-15T08:00:00.000000001Z") == BASE + 1
    assert logcopy.stamp_ns("2027-01-15T08:00:00.5Z") == BASE + S // 2  # Go trims zeros
    assert logcopy.stamp_ns("2027-01-15T08:00:00Z") == BASE
    for bad in ("hello", "2027-01-15T08:00:00", "2027-01-15T08:00:00.x1Z", ""):
        assert logcopy.stamp_ns(bad) is None
    assert gateway.since_time(BASE + 999_999_999) == "2027-01-15T08:00:00Z"


def test_a_copy_takes_each_line_once_however_the_reads_overlap():
    copy = fresh()
    assert logcopy.extend(copy, stamped((BASE + 1, "a"), (BASE + 1, "b")), cap=1000)
    assert (copy.full_text, copy.cursor_ns, copy.cursor_lines) == ("a\nb\n", BASE + 1, 2)
    # The next read starts at the whole second: both lines again, a third with the same
    # timestamp, and one later.
    again = stamped((BASE, "older"), (BASE + 1, "a"), (BASE + 1, "b"), (BASE + 1, "c"))
    assert logcopy.extend(copy, again + stamped((BASE + 7, "d")), cap=1000)
    assert copy.full_text == "a\nb\nc\nd\n"
    assert (copy.cursor_ns, copy.cursor_lines) == (BASE + 7, 1)
    assert not logcopy.extend(copy, stamped((BASE + 7, "d")), cap=1000)  # nothing new
    assert not logcopy.extend(copy, "", cap=1000)


def test_lines_rotated_away_in_the_cluster_stay_in_the_copy():
    copy = fresh()
    logcopy.extend(copy, stamped((BASE, "one"), (BASE + S, "two")), cap=1000)
    # The node rotated the file: the API now has only what came after.
    assert logcopy.extend(copy, stamped((BASE + 3 * S, "three")), cap=1000)
    assert copy.full_text == "one\ntwo\nthree\n"


def test_a_copy_keeps_the_end_within_the_cap_and_says_it_cut():
    copy = fresh()
    logcopy.extend(copy, stamped(*[(BASE + n, f"line {n:03d}") for n in range(10)]), cap=45)
    assert copy.truncated
    assert copy.full_text.endswith("line 009\n") and len(copy.full_text.encode()) <= 45
    assert copy.full_text.startswith("line ")  # whole lines only
    logcopy.extend(copy, stamped((BASE + 20, "line 020")), cap=45, fold_at=0)
    assert copy.truncated and copy.full_text.endswith("line 009\nline 020\n")
    assert len(copy.full_text.encode()) <= 45 and copy.tail == ""


def test_new_lines_wait_in_the_tail_until_there_are_enough_to_fold():
    copy = fresh()
    logcopy.extend(copy, stamped((BASE, "head")), cap=1000, fold_at=20)
    fields = logcopy.extend(copy, stamped((BASE + 1, "one")), cap=1000, fold_at=20)
    # Only the short tail and the cursor are written; the text stays as it is.
    assert set(fields) == {"tail", "cursor_ns", "cursor_lines"}
    assert (copy.text, copy.tail) == ("head\n", "one\n")
    fields = logcopy.extend(copy, stamped((BASE + 2, "two three four five")), 1000, fold_at=20)
    assert "text" in fields and (copy.text, copy.tail) == ("head\none\ntwo three four five\n", "")


def test_a_copy_made_before_cursors_or_an_answer_without_timestamps_is_replaced():
    legacy = InstanceLog(index=0, container="main", text="old whole log\n")
    assert logcopy.extend(legacy, stamped((BASE, "old whole log"), (BASE + 1, "more")), 1000)
    assert legacy.full_text == "old whole log\nmore\n" and legacy.cursor_ns == BASE + 1
    plain = fresh()
    assert logcopy.extend(plain, "no stamps\nat all\n", cap=1000)
    assert plain.full_text == "no stamps\nat all\n" and plain.cursor_ns == 0
    assert not logcopy.extend(plain, "no stamps\nat all\n", cap=1000)


HELLO = """
type: command
name: hello
command: python train.py
environment:
  image: python:3.11-slim
compute: azureml:cpu-target
environment_variables:
  KUBESIM_LOG_LINES: "first"
  KUBESIM_RUN_FOREVER: "true"
"""


@pytest.mark.django_db(transaction=True)
def test_following_a_running_job_survives_the_node_rotating_its_log(compute_ready, client_for, sim):
    job = submit_job(client_for("scientist"), HELLO, "chatty")

    def running() -> bool:
        tasks.job_sync(job.pk)
        return Job.objects.get(pk=job.pk).status == Status.RUNNING

    wait_for(running, what="the job to run")
    pod = job.instances.get(index=0).pod

    def write(*lines: str) -> None:
        sim.call(lambda: [sim.store.logs.write("team-a", pod, "main", line) for line in lines])

    def copied() -> str:
        tasks.follow_logs()
        return InstanceLog.objects.get(job=job, index=0, container="main").full_text

    assert wait_for(lambda: copied() == "first\n", what="the first copy")
    write("second", "third")  # within the same second as each other, most likely
    assert copied() == "first\nsecond\nthird\n"
    assert copied() == "first\nsecond\nthird\n"  # read again: nothing twice
    sim.call(lambda: sim.store.logs.rotate("team-a", pod, "main", keep=1))
    write("fourth")
    assert copied() == "first\nsecond\nthird\nfourth\n"


@pytest.mark.django_db(transaction=True)
def test_a_restarted_containers_last_lines_are_kept(compute_ready, client_for, sim):
    """What a container wrote after the last copy and before it crashed is fetched from its
    previous instance, then the new instance's lines follow."""
    import dataclasses

    from jobs import gateway, state

    job = submit_job(client_for("scientist"), HELLO, "crashy")

    def views() -> list[state.InstanceView]:
        seen = gateway.read_state(job.compute.cluster, "team-a", job.pk, job.object_name)
        return state.derive(*seen)[2]

    wait_for(lambda: views() and views()[0].state == "running", what="the pod to run")
    (view,) = views()
    assert logcopy.store_logs(job, [view])
    sim.call(lambda: sim.store.logs.write("team-a", view.pod, "main", "last words"))
    sim.call(lambda: sim.store.logs.restart("team-a", view.pod, "main"))
    sim.call(lambda: sim.store.logs.write("team-a", view.pod, "main", "started again"))
    restarted = dataclasses.replace(view, restarts=view.restarts + 1)
    assert logcopy.store_logs(job, [restarted])
    copy = InstanceLog.objects.get(job=job, index=0, container="main")
    assert copy.full_text == "first\nlast words\nstarted again\n"
    assert copy.restarts == view.restarts + 1
    assert not logcopy.store_logs(job, [restarted])  # nothing new, nothing twice


@pytest.mark.django_db(transaction=True)
def test_of_two_passes_copying_at_once_only_the_first_stores_and_nothing_doubles(
    compute_ready, personas
):
    """A follow pass that runs long, a job's final copy and the repair pass can copy the
    same log at once: the copy that lost writes nothing, and the next pass goes on from
    the stored cursor."""
    from compute.models import ComputeTarget
    from tests.helpers import make_jobs

    target = ComputeTarget.objects.get(name="cpu-target")
    (job,) = make_jobs(target, 1, created_by=personas["scientist"])
    first = InstanceLog(job=job, index=0, container="main")
    assert logcopy.save(first, (0, 0), logcopy.extend(first, stamped((BASE, "one")), 1000))
    twin = InstanceLog(job=job, index=0, container="main")  # made at the same time
    assert not logcopy.save(twin, (0, 0), logcopy.extend(twin, stamped((BASE, "one")), 1000))

    a = InstanceLog.objects.defer("text").get(pk=first.pk)
    b = InstanceLog.objects.defer("text").get(pk=first.pk)
    base = (a.cursor_ns, a.cursor_lines)
    # Both read the cluster from the same cursor; a folds (its fold point is low), b
    # only appends to the tail it read, which a has just folded into the text.
    fields = logcopy.extend(a, stamped((BASE + 1, "two")), 1000, fold_at=0)
    assert logcopy.save(a, base, fields)
    fields = logcopy.extend(b, stamped((BASE + 1, "two"), (BASE + 2, "three")), 1000)
    assert not logcopy.save(b, base, fields)
    stored = InstanceLog.objects.get(pk=first.pk)
    assert stored.full_text == "one\ntwo\n"
    # The next pass starts from what was stored and takes what b could not.
    base = (stored.cursor_ns, stored.cursor_lines)
    fields = logcopy.extend(stored, stamped((BASE + 1, "two"), (BASE + 2, "three")), 1000)
    assert logcopy.save(stored, base, fields)
    assert InstanceLog.objects.get(pk=first.pk).full_text == "one\ntwo\nthree\n"
