"""Job pages and endpoints: allow/deny matrix, filters, the list page's query budget, live groups."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.models import Job
from portal import live
from tests.helpers import make_jobs

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = "type: command\nname: {name}\ncommand: echo hi\nenvironment:\n  image: python:3.11-slim\ncompute: azureml:cpu-target\nexperiment_name: {exp}\ntags:\n  team: {tag}\n"
P = ["anonymous", "itops", "admin", "scientist", "reader", "outsider"]


def row(*codes):
    return dict(zip(P, codes, strict=True))


@pytest.fixture
def a_job(compute_ready, client_for):
    response = client_for("scientist").post(
        "/api/v1/workspaces/team-a/jobs/",
        {"yaml": HELLO.format(name="seen", exp="e1", tag="vision")},
        content_type="application/json",
    )
    assert response.status_code == 202
    return Job.objects.get(name="seen")


def test_job_matrix(a_job, client_for):
    cases = [
        ("get", "/jobs/team-a/", row(302, 200, 200, 200, 200, 404)),
        ("get", "/jobs/team-a/seen/", row(302, 200, 200, 200, 200, 404)),
        ("get", "/jobs/team-a/new", row(302, 403, 200, 200, 403, 404)),
        ("get", "/jobs/team-a/environments/", row(302, 200, 200, 200, 200, 404)),
        ("post", "/jobs/team-a/validate", row(302, 403, 200, 200, 403, 404)),
        ("get", "/api/v1/workspaces/team-a/jobs/", row(401, 200, 200, 200, 200, 404)),
        ("get", "/api/v1/workspaces/team-a/jobs/seen/", row(401, 200, 200, 200, 200, 404)),
        ("get", "/api/v1/workspaces/team-a/jobs/seen/logs/", row(401, 200, 200, 200, 200, 404)),
        ("post", "/api/v1/workspaces/team-a/jobs/", row(401, 403, 400, 400, 403, 404)),
        ("post", "/api/v1/workspaces/team-a/jobs/seen/clone/", row(401, 403, 202, 202, 403, 404)),
        ("get", "/api/v1/workspaces/team-a/environments/", row(401, 200, 200, 200, 200, 404)),
        ("post", "/api/v1/workspaces/team-a/environments/", row(401, 403, 400, 400, 403, 404)),
        ("post", "/api/v1/workspaces/team-a/code/", row(401, 403, 400, 400, 403, 404)),
    ]
    failures = []
    for method, url, expected in cases:
        for persona in P:
            client = client_for(persona)
            if method == "get":
                response = client.get(url)
            elif url.endswith("/clone/"):
                response = client.post(
                    url,
                    {"overrides": {"name": f"clone-{persona}"}},
                    content_type="application/json",
                )
            else:
                response = client.post(url, {}, content_type="application/json")
            if response.status_code != expected[persona]:
                failures.append(
                    f"{persona} {method} {url}: {response.status_code} != {expected[persona]}"
                )
    assert not failures, "\n".join(failures)


def test_the_job_page_shows_its_run_and_follows_its_points(a_job, client_for):
    from tracking import store

    job = Job.objects.select_related("run").get(pk=a_job.pk)
    store.log_batch(
        job.run,
        metrics=[{"key": "loss", "value": 0.5, "step": 1, "timestamp": 1}],
        params=[{"key": "lr", "value": "0.01"}],
    )
    page = client_for("reader").get("/jobs/team-a/seen/").content.decode()
    assert job.run.run_id in page
    assert 'value="loss"' in page  # the chart picker has the logged metric
    assert "<td>lr</td>" in page
    assert f"tracking.run.{job.run.pk}" in page  # the page's socket joins the run's group
    assert f'id="run-points-{job.run.pk}"' in page
    assert "js/charts" in page


def test_cancel_and_delete_need_submit_rights(a_job, client_for):
    assert (
        client_for("reader").post("/api/v1/workspaces/team-a/jobs/seen/cancel/").status_code == 403
    )
    assert (
        client_for("outsider").post("/api/v1/workspaces/team-a/jobs/seen/cancel/").status_code
        == 404
    )
    assert client_for("reader").post("/jobs/team-a/seen/cancel").status_code == 403
    assert (
        client_for("admin").post("/api/v1/workspaces/team-a/jobs/seen/cancel/").status_code == 202
    )


def test_job_group_matrix(a_job, personas):
    group = live.group_name("jobs.job", a_job.pk)
    allowed = {name: live.can_join(user, group) for name, user in personas.items()}
    assert allowed == {
        "itops": True,
        "admin": True,
        "scientist": True,
        "reader": True,
        "outsider": False,
    }


def test_filters_search_and_grouping(compute_ready, client_for):
    client = client_for("scientist")
    for name, exp, tag in [
        ("a1", "exp-a", "vision"),
        ("a2", "exp-a", "nlp"),
        ("b1", "exp-b", "vision"),
    ]:
        assert (
            client.post(
                "/api/v1/workspaces/team-a/jobs/",
                {"yaml": HELLO.format(name=name, exp=exp, tag=tag)},
                content_type="application/json",
            ).status_code
            == 202
        )

    def names(query):
        return sorted(
            j["name"]
            for j in client.get(f"/api/v1/workspaces/team-a/jobs/?{query}").json()["results"]
        )

    assert names("experiment=exp-a") == ["a1", "a2"]
    assert names("tag=team=vision") == ["a1", "b1"]
    assert names("search=b1") == ["b1"]
    assert names("status=Queued") == ["a1", "a2", "b1"]
    assert names("compute=cpu-target&created_by=scientist") == ["a1", "a2", "b1"]
    ordered = [
        j["name"]
        for j in client.get("/api/v1/workspaces/team-a/jobs/?ordering=name").json()["results"]
    ]
    assert ordered == ["a1", "a2", "b1"]
    page = client.get("/jobs/team-a/?group=experiment&experiment=exp-a").content.decode()
    assert "Experiment exp-a" in page and 'data-job="a1"' in page and 'data-job="b1"' not in page
    fragment = client.get("/jobs/team-a/?search=a2", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="job-results">') and 'data-job="a2"' in fragment


def test_job_list_query_count_does_not_grow_with_jobs(compute_ready, client_for, personas):
    target = compute_ready.targets.get(name="cpu-target")

    def make(count, start):
        make_jobs(target, count, start=start, created_by=personas["scientist"], status="Completed")

    client = client_for("scientist")
    make(5, 0)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/jobs/team-a/").status_code == 200
    make(120, 5)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/jobs/team-a/").status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(many.captured_queries) <= 15


def test_yaml_editor_validates_as_you_type(compute_ready, client_for):
    client = client_for("scientist")
    bad = client.post(
        "/jobs/team-a/validate",
        {"yaml": "type: command\ncommand: echo\ncompute: azureml:nope\nenvironment: {image: x}\n"},
    )
    assert "no compute target “nope”" in bad.content.decode()
    good = client.post("/jobs/team-a/validate", {"yaml": HELLO.format(name="ok", exp="e", tag="t")})
    assert "Looks valid" in good.content.decode()


def test_form_submission(compute_ready, client_for):
    client = client_for("scientist")
    response = client.post(
        "/jobs/team-a/new",
        {
            "mode": "form",
            "name": "from-form",
            "experiment_name": "forms",
            "compute": "gpu-target",
            "instance_type": "gpu-small",
            "instance_count": 1,
            "image": "python:3.11-slim",
            "command": "python -c 'print(1)'",
            "environment_variables": "A=1\nB=2",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get(name="from-form")
    assert job.instance_type == "gpu-small" and job.spec["environment_variables"] == {
        "A": "1",
        "B": "2",
    }
    page = client_for("itops").get("/jobs/team-a/from-form/").content.decode()
    assert "nvidia.com/gpu" in page and 'data-testid="manifests"' in page
    assert 'data-testid="manifests"' not in client.get("/jobs/team-a/from-form/").content.decode()


def test_page_joining_mid_run_gets_the_current_state_and_job_end_notice(
    compute_ready, client_for, personas
):
    """A page that subscribes gets the job's current fragments at once; the submitter gets a
    notice on any page when the job ends; logs are followed from the store."""
    import asyncio

    from channels.testing import WebsocketCommunicator

    from jobs import tasks
    from jobs.models import Status
    from portal.asgi import router

    client = client_for("scientist")
    client.post(
        "/api/v1/workspaces/team-a/jobs/",
        {
            "yaml": HELLO.format(name="mid", exp="e", tag="t"),
            "overrides": {"environment_variables.KUBESIM_LOG_LINES": "epoch 1 done"},
        },
        content_type="application/json",
    )
    job = Job.objects.get(name="mid")

    async def scenario():
        group = live.group_name("jobs.job", job.pk)
        communicator = WebsocketCommunicator(
            router, f"/ws/live/?groups={group}", headers=[(b"origin", b"http://127.0.0.1")]
        )
        communicator.scope["user"] = personas["scientist"]
        assert (await communicator.connect())[0]
        snapshot = await communicator.receive_from(timeout=5)
        frames = []
        from channels.db import database_sync_to_async

        for _ in range(100):
            await database_sync_to_async(tasks.job_sync)(job.pk)
            await database_sync_to_async(tasks.follow_logs)()
            while not await communicator.receive_nothing(timeout=0.05):
                frames.append(await communicator.receive_from())
            if (
                await database_sync_to_async(lambda: Job.objects.get(pk=job.pk).status)()
            ) == Status.COMPLETED:
                break
        while not await communicator.receive_nothing(timeout=0.3):
            frames.append(await communicator.receive_from())
        await communicator.disconnect()
        return snapshot, frames

    snapshot, frames = asyncio.run(scenario())
    assert f'id="job-{job.pk}-status"' in snapshot and "Queued" in snapshot
    everything = "".join(frames)
    assert "Completed" in everything
    assert "epoch 1 done" in everything  # the log reached the page
    notice = [f for f in frames if 'id="job-notices"' in f]
    assert notice and "ended: Completed" in notice[-1]


def test_a_change_sent_while_the_snapshot_renders_reaches_the_page_after_it(
    a_job, personas, monkeypatch
):
    """The socket joins before its snapshot renders: a fragment sent by a change committed
    in between arrives after the snapshot, not never."""
    import asyncio

    from channels.testing import WebsocketCommunicator

    from portal.asgi import router

    group = live.group_name("jobs.job", a_job.pk)
    real = live.snapshot_map

    def snapshot_then_change(groups):
        rendered = real(groups)
        if group in groups:  # sent at once, as the watcher's sender would after a commit
            live._send_now(group, "<p>changed after the snapshot</p>")
        return rendered

    monkeypatch.setattr(live, "snapshot_map", snapshot_then_change)

    async def scenario() -> list[str]:
        communicator = WebsocketCommunicator(
            router, f"/ws/live/?groups={group}", headers=[(b"origin", b"http://127.0.0.1")]
        )
        communicator.scope["user"] = personas["scientist"]
        assert (await communicator.connect())[0]
        frames = [await communicator.receive_from(timeout=5) for _ in range(2)]
        await communicator.disconnect()
        return frames

    snapshot, change = asyncio.run(scenario())
    assert f'id="job-{a_job.pk}-status"' in snapshot
    assert change == "<p>changed after the snapshot</p>"


def test_a_repaint_of_instances_alone_renders_as_the_full_one_does(a_job):
    from jobs.models import Instance
    from jobs.notify import render_job_details

    Instance.objects.create(job=a_job, index=0, pod="seen-0", phase="Running", state="running")
    Instance.objects.create(job=a_job, index=1, pod="seen-1", state="terminated", exit_code=3)
    alone = render_job_details([(a_job.pk, ("instances",))])[(a_job.pk, ("instances",))]
    full = render_job_details([(a_job.pk, ("status", "instances"))])
    assert alone and alone in full[(a_job.pk, ("status", "instances"))]
    assert "seen-1" in alone and "exit 3" in alone
    assert render_job_details([(987654, ("instances",))]) == {(987654, ("instances",)): ""}


def test_update_many_writes_every_row_and_field_in_chunks(a_job, monkeypatch):
    from datetime import UTC, datetime

    from jobs.models import Instance
    from portal import db

    rows = [Instance.objects.create(job=a_job, index=i, pod=f"p{i}", exit_code=i) for i in range(5)]
    monkeypatch.setattr(db, "ROWS_PER_STATEMENT", 2)  # 3 statements on PostgreSQL
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for row in rows[:4]:
        row.pod, row.reason, row.restarts, row.updated_at = f"q{row.index}", "it's", 7, when
        row.exit_code = None if row.index % 2 else 137
    db.update_many(Instance, rows[:4], ["pod", "reason", "restarts", "exit_code", "updated_at"])
    got = {i.index: i for i in Instance.objects.filter(job=a_job)}
    for index in range(4):
        assert got[index].pod == f"q{index}" and got[index].reason == "it's"
        assert got[index].restarts == 7 and got[index].updated_at == when
        assert got[index].exit_code == (None if index % 2 else 137)
    assert got[4].pod == "p4" and got[4].exit_code == 4  # not in the batch: untouched


def test_instances_table_escapes_what_the_cluster_says():
    from types import SimpleNamespace

    from jobs.templatetags.job_fragments import instances_table

    job = SimpleNamespace(pk=7)
    row = {
        "index": 0,
        "pod": "p<0>",
        "node": "",
        "phase": "Failed",
        "state": "terminated",
        "reason": "<script>alert(1)</script>",
        "exit_code": 137,
        "restarts": 2,
    }
    html = instances_table(job, [row], oob=True)
    assert '<table id="job-7-instances" hx-swap-oob="true">' in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<td>p&lt;0&gt;</td><td>–</td><td>Failed</td>" in html
    assert "terminated (&lt;script&gt;alert(1)&lt;/script&gt;) exit 137</td><td>2</td>" in html
    assert "No pods yet." in instances_table(job, []) and "hx-swap-oob" not in instances_table(
        job, []
    )


def test_a_page_following_many_jobs_is_checked_and_caught_up_in_a_few_queries(
    compute_ready, personas
):
    """Joining many job groups (a page of jobs, or tabs reconnecting after a restart) costs
    the same queries for 2 jobs as for 8; the snapshots are the jobs' full live parts and
    a job of another workspace is refused."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compute.models import ComputeTarget
    from jobs.notify import render_job_detail
    from portal import live
    from portal.consumers import _check_and_render

    def make(target_name: str, count: int) -> list[Job]:
        target = ComputeTarget.objects.get(name=target_name)
        return make_jobs(target, count, prefix=target_name, created_by=personas["admin"])

    mine = [live.group_name("jobs.job", job.pk) for job in make("cpu-target", 8)]
    foreign = live.group_name("jobs.job", make("team-b-target", 1)[0].pk)
    me = personas["scientist"]
    with CaptureQueriesContext(connection) as few:
        _check_and_render(me, mine[:2])
    with CaptureQueriesContext(connection) as many:
        allowed, snapshots = _check_and_render(me, [*mine, foreign, "jobs.job.999999"])
    assert len(many) == len(few)
    assert allowed == set(mine)
    assert snapshots == [render_job_detail(int(group.rsplit(".", 1)[1])) for group in mine]


def test_the_yaml_editor_starts_on_a_target_the_user_can_use(compute_ready, client_for):
    """A data scientist of team-b only opens "Submit a job" on team-b's target, not on
    team-a's cpu-target (which would greet them with an error)."""
    page = client_for("outsider").get("/jobs/team-b/new").content.decode()
    assert "compute: azureml:team-b-target" in page
    assert "azureml:cpu-target" not in page
