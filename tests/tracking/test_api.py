"""The tracking API's rules, through HTTP: who may read and write, MLflow's limits and
error codes, and nothing half-stored when a request is refused."""

import json
import math

import pytest

from portal import services as portal_services
from tracking import services as tracking_services
from tracking.models import Experiment, LatestMetric, Metric, Param, Run, RunStatus

pytestmark = pytest.mark.django_db

BASE = "/mlflow/team-a/api/2.0/mlflow/"


@pytest.fixture
def tokens(personas):
    return {
        name: portal_services.token_create(user=user, name="t")[1]
        for name, user in personas.items()
    }


class Caller:
    def __init__(self, client, token, slug="team-a"):
        self.client, self.token, self.base = client, token, f"/mlflow/{slug}/api/2.0/mlflow/"

    def post(self, path, body):
        return self.client.post(
            self.base + path,
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.token}",
        )

    def get(self, path, **params):
        return self.client.get(self.base + path, params, HTTP_AUTHORIZATION=f"Bearer {self.token}")


@pytest.fixture
def as_(client, tokens):
    return lambda name, slug="team-a": Caller(client, tokens[name], slug)


@pytest.fixture
def run_id(as_):
    scientist = as_("scientist")
    experiment = scientist.post("experiments/create", {"name": "e"}).json()["experiment_id"]
    return scientist.post("runs/create", {"experiment_id": experiment, "run_name": "r"}).json()[
        "run"
    ]["info"]["run_id"]


def error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error_code"] == code, body
    assert body["message"]
    return body["message"]


def test_unknown_or_missing_tokens_are_unauthenticated(client):
    error(client.get(BASE + "experiments/get?experiment_id=1"), 401, "UNAUTHENTICATED")
    response = client.get(
        BASE + "experiments/get?experiment_id=1", HTTP_AUTHORIZATION="Bearer kp_made-up"
    )
    error(response, 401, "UNAUTHENTICATED")


def test_roles_decide_reading_and_writing(as_, run_id):
    error(
        as_("reader").post("runs/log-metric", {"run_id": run_id, "key": "x", "value": 1}),
        403,
        "PERMISSION_DENIED",
    )
    assert as_("reader").get("runs/get", run_id=run_id).status_code == 200
    error(as_("reader").post("experiments/create", {"name": "mine"}), 403, "PERMISSION_DENIED")
    # Another workspace's member: no access to team-a at all, and team-a's run is not in team-b.
    error(as_("outsider").get("runs/get", run_id=run_id), 403, "PERMISSION_DENIED")
    error(as_("outsider", "team-b").get("runs/get", run_id=run_id), 404, "RESOURCE_DOES_NOT_EXIST")
    error(
        as_("outsider", "team-b").post(
            "runs/log-metric", {"run_id": run_id, "key": "x", "value": 1}
        ),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert not Metric.objects.exists()


def test_a_batch_over_the_limits_stores_nothing(as_, run_id):
    scientist = as_("scientist")
    metrics = [{"key": "m", "value": i, "timestamp": 1, "step": i} for i in range(1001)]
    message = error(
        scientist.post("runs/log-batch", {"run_id": run_id, "metrics": metrics}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "1000 metrics" in message
    params = [{"key": f"p{i}", "value": "v"} for i in range(101)]
    error(
        scientist.post("runs/log-batch", {"run_id": run_id, "params": params}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    long_key = {"key": "k" * 251, "value": 1, "timestamp": 1, "step": 0}
    message = error(
        scientist.post("runs/log-batch", {"run_id": run_id, "metrics": [long_key]}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "250" in message
    # One bad point among good ones: none of them is stored.
    mixed = [
        {"key": "good", "value": 1, "timestamp": 1, "step": 0},
        {"key": "bad", "value": "high", "timestamp": 1},
    ]
    message = error(
        scientist.post("runs/log-batch", {"run_id": run_id, "metrics": mixed}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "bad" in message
    assert not Metric.objects.exists() and not Param.objects.exists()


def test_params_keep_their_first_value_tags_overwrite_metrics_append(as_, run_id):
    scientist = as_("scientist")
    assert (
        scientist.post(
            "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"}
        ).status_code
        == 200
    )
    assert (
        scientist.post(
            "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"}
        ).status_code
        == 200
    )
    message = error(
        scientist.post("runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.2"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "Changing param values is not allowed" in message
    for value in ("a", "b"):
        scientist.post("runs/set-tag", {"run_id": run_id, "key": "t", "value": value})
    for step, value in enumerate([3.0, "NaN", "Infinity", 1.0]):
        scientist.post(
            "runs/log-metric",
            {"run_id": run_id, "key": "loss", "value": value, "timestamp": 5, "step": step},
        )
    run = scientist.get("runs/get", run_id=run_id).json()["run"]
    assert {"key": "t", "value": "b"} in run["data"]["tags"]
    assert run["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert run["data"]["metrics"] == [{"key": "loss", "value": 1.0, "timestamp": 5, "step": 3}]
    history = scientist.get("metrics/get-history", run_id=run_id, metric_key="loss").json()[
        "metrics"
    ]
    assert [m["value"] for m in history] == [3.0, "NaN", "Infinity", 1.0]


def test_a_write_to_an_ended_run_is_refused(as_, run_id):
    scientist = as_("scientist")
    assert (
        scientist.post(
            "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 10}
        ).status_code
        == 200
    )
    message = error(
        scientist.post("runs/log-metric", {"run_id": run_id, "key": "x", "value": 1}),
        400,
        "INVALID_STATE",
    )
    assert "ended" in message
    error(
        scientist.post("runs/update", {"run_id": run_id, "status": "DONE"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_search_filters_orders_and_pages(as_):
    scientist = as_("scientist")
    experiment = scientist.post("experiments/create", {"name": "s"}).json()["experiment_id"]
    for n in range(5):
        run = scientist.post(
            "runs/create", {"experiment_id": experiment, "run_name": f"r{n}", "start_time": n}
        ).json()["run"]["info"]["run_id"]
        scientist.post(
            "runs/log-batch",
            {
                "run_id": run,
                "metrics": [{"key": "acc", "value": n / 10, "timestamp": 1, "step": 0}],
                "params": [{"key": "lr", "value": "0.01" if n % 2 else "0.1"}],
            },
        )
    body = {
        "experiment_ids": [experiment],
        "filter": "metrics.acc > 0.1 and params.lr = '0.01'",
        "order_by": ["metrics.acc DESC"],
    }
    names = [r["info"]["run_name"] for r in scientist.post("runs/search", body).json()["runs"]]
    assert names == ["r3"]
    page = scientist.post(
        "runs/search",
        {"experiment_ids": [experiment], "max_results": 2, "order_by": ["attributes.run_name ASC"]},
    ).json()
    assert [r["info"]["run_name"] for r in page["runs"]] == ["r0", "r1"]
    rest = scientist.post(
        "runs/search",
        {
            "experiment_ids": [experiment],
            "max_results": 10,
            "order_by": ["attributes.run_name ASC"],
            "page_token": page["next_page_token"],
        },
    ).json()
    assert [r["info"]["run_name"] for r in rest["runs"]] == ["r2", "r3", "r4"]
    like = scientist.post(
        "runs/search",
        {
            "experiment_ids": [experiment],
            "filter": "attributes.run_name LIKE 'r%' and tags.mlflow.runName != 'r0'",
        },
    ).json()
    assert len(like["runs"]) == 4
    error(
        scientist.post("runs/search", {"filter": "metrics.acc >> 1"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    error(scientist.post("runs/search", {"filter": "bogus.x = 1"}), 400, "INVALID_PARAMETER_VALUE")


def test_artifact_paths_cannot_leave_their_run(client, tokens, as_, run_id, settings):
    run = Run.objects.get(run_id=run_id)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['scientist']}"}
    base = f"/mlflow/team-a/api/2.0/mlflow-artifacts/artifacts/{run.artifact_root}"
    for bad in ("../../x.txt", "a/../../b", "%2e%2e/%2e%2e/c"):
        response = client.put(
            f"{base}/{bad}", b"x", content_type="application/octet-stream", **auth
        )
        assert response.status_code in (400, 404), (bad, response.status_code)
    settings.ARTIFACT_MAX_BYTES = 10
    response = client.put(
        f"{base}/big.bin", b"x" * 11, content_type="application/octet-stream", **auth
    )
    assert response.status_code == 413 and "PORTAL_ARTIFACT_MAX_BYTES" in response.json()["message"]
    settings.ARTIFACT_MAX_BYTES = 1000
    assert (
        client.put(f"{base}/ok.txt", b"fine", content_type="text/plain", **auth).status_code == 200
    )
    listing = client.get(
        "/mlflow/team-a/api/2.0/mlflow-artifacts/artifacts", {"path": run.artifact_root}, **auth
    ).json()
    assert listing["files"] == [{"path": "ok.txt", "is_dir": False, "file_size": 4}]
    reader = {"HTTP_AUTHORIZATION": f"Bearer {tokens['reader']}"}
    assert b"".join(client.get(f"{base}/ok.txt", **reader).streaming_content) == b"fine"
    assert (
        client.put(f"{base}/r.txt", b"no", content_type="text/plain", **reader).status_code == 403
    )
    outsider = {"HTTP_AUTHORIZATION": f"Bearer {tokens['outsider']}"}
    other = f"/mlflow/team-b/api/2.0/mlflow-artifacts/artifacts/{run.artifact_root}/ok.txt"
    assert client.get(other, **outsider).status_code == 404


def test_a_job_token_writes_its_own_run_and_nothing_else(client, personas, team_a, as_, run_id):
    job_run = tracking_services.run_for_job(
        workspace=team_a, experiment_name="jobs", name="j1", tags={}, user=personas["scientist"]
    )
    assert job_run.status == RunStatus.SCHEDULED
    raw = tracking_services.run_token_issue(job_run)
    job = Caller(client, raw)
    assert (
        job.post("runs/log-metric", {"run_id": job_run.run_id, "key": "x", "value": 1}).status_code
        == 200
    )
    error(
        job.post("runs/log-metric", {"run_id": run_id, "key": "x", "value": 1}),
        403,
        "PERMISSION_DENIED",
    )
    error(job.post("experiments/create", {"name": "sneaky"}), 403, "PERMISSION_DENIED")
    error(
        Caller(client, raw, "team-b").get("runs/get", run_id=job_run.run_id),
        403,
        "PERMISSION_DENIED",
    )
    # Rank 2 of a distributed job keeps its points apart.
    Caller(client, raw + ".2").post(
        "runs/log-metric", {"run_id": job_run.run_id, "key": "x", "value": 5}
    )
    keys = set(LatestMetric.objects.filter(run=job_run).values_list("key", flat=True))
    assert keys == {"x", "x/rank-2"}
    # The script's FINISHED is noted; the run's status is the job's.
    job.post("runs/update", {"run_id": job_run.run_id, "status": "FINISHED"})
    job_run.refresh_from_db()
    assert job_run.status == RunStatus.SCHEDULED
    tracking_services.follow_job(job_run.pk, "Failed", 99)
    job_run.refresh_from_db()
    assert job_run.status == RunStatus.FAILED and job_run.end_time == 99


def test_bulk_interval_samples_steps_evenly(as_, run_id):
    scientist = as_("scientist")
    points = [{"key": "m", "value": math.sin(i), "timestamp": i, "step": i} for i in range(500)]
    for chunk in range(0, 500, 250):
        scientist.post("runs/log-batch", {"run_id": run_id, "metrics": points[chunk : chunk + 250]})
    response = scientist.get(
        "metrics/get-history-bulk-interval", run_ids=[run_id], metric_key="m", max_results=10
    )
    steps = [m["step"] for m in response.json()["metrics"]]
    assert len(steps) == 10 and steps[0] == 0 and steps[-1] == 499
    assert {m["run_id"] for m in response.json()["metrics"]} == {run_id}


def test_bad_bodies_are_refused_with_mlflow_errors(client, tokens):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['scientist']}"}
    for body in (b"{", b"[1]", b"[" * 2000 + b"]" * 2000):
        response = client.post(BASE + "runs/create", body, content_type="application/json", **auth)
        error(response, 400, "INVALID_PARAMETER_VALUE")
    error(client.get(BASE + "nothing/here", **auth), 404, "ENDPOINT_NOT_FOUND")
    response = client.get(
        BASE + "experiments/get", {"experiment_id": "99999999999999999999999"}, **auth
    )
    error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    assert not Experiment.objects.filter(name="").exists()


def test_stored_points_are_counted_for_prometheus(as_, run_id):
    from prometheus_client import REGISTRY

    def counted():
        labels = {"source": "external"}
        return REGISTRY.get_sample_value("portal_tracking_metric_points_total", labels) or 0

    before = counted()
    metrics = [{"key": "m", "value": i, "timestamp": 1, "step": i} for i in range(7)]
    response = as_("scientist").post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
    assert response.status_code == 200
    assert counted() == before + 7
    # A refused batch stores nothing and counts nothing.
    bad = metrics + [{"key": "m", "value": "x", "timestamp": 1}]
    assert (
        as_("scientist").post("runs/log-batch", {"run_id": run_id, "metrics": bad}).status_code
        == 400
    )
    assert counted() == before + 7
