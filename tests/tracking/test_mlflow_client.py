"""The real MLflow client against a running portal: what training code calls works
unchanged, including MLflow 3's log_model / load_model (run in the sandbox's environment,
which has scikit-learn)."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from portal import services as portal_services
from tracking.models import LoggedModel, Run

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
SANDBOX_PYTHON = ROOT / ".venv-sandbox" / "bin" / "python"


@pytest.fixture
def tracking(portal_server, personas, monkeypatch):
    raw = portal_services.token_create(user=personas["scientist"], name="mlflow")[1]
    uri = f"{portal_server}/mlflow/team-a"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", raw)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(uri)
    yield uri, raw
    mlflow.set_tracking_uri(None)


def test_training_code_logs_and_reads_back(tracking, tmp_path):
    client = MlflowClient()
    experiment_id = client.create_experiment("client-e2e")
    assert client.get_experiment_by_name("client-e2e").experiment_id == experiment_id
    run = client.create_run(experiment_id, run_name="first", tags={"team": "a"})
    run_id = run.info.run_id
    for step in range(50):
        client.log_metric(run_id, "loss", 1 / (step + 1), step=step)
    client.log_batch(
        run_id,
        metrics=[Metric("acc", 0.9, 1, 0), Metric("acc", 0.95, 2, 1)],
        params=[Param("lr", "0.01"), Param("depth", "3")],
        tags=[RunTag("stage", "dev")],
    )
    client.log_param(run_id, "batch", 32)
    client.set_tag(run_id, "stage", "prod")
    (tmp_path / "notes.txt").write_text("first notes")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "curve.csv").write_text("x,y\n1,2\n")
    client.log_artifact(run_id, str(tmp_path / "notes.txt"))
    client.log_artifacts(run_id, str(tmp_path / "plots"), artifact_path="plots")
    client.set_terminated(run_id)

    stored = client.get_run(run_id)
    assert stored.info.status == "FINISHED" and stored.info.run_name == "first"
    assert stored.data.params == {"lr": "0.01", "depth": "3", "batch": "32"}
    assert stored.data.metrics == {"loss": pytest.approx(1 / 50), "acc": 0.95}
    assert stored.data.tags["stage"] == "prod" and stored.data.tags["team"] == "a"
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(50))
    assert sorted(a.path for a in client.list_artifacts(run_id)) == ["notes.txt", "plots"]
    assert [a.path for a in client.list_artifacts(run_id, "plots")] == ["plots/curve.csv"]
    target = tmp_path / "down"
    target.mkdir()
    local = client.download_artifacts(run_id, "plots", str(target))
    assert (Path(local) / "curve.csv").read_text() == "x,y\n1,2\n"

    other = client.create_run(experiment_id, run_name="second")
    client.log_metric(other.info.run_id, "acc", 0.5)
    found = client.search_runs(
        [experiment_id],
        filter_string="metrics.acc > 0.6 and params.lr = '0.01' and attributes.status = 'FINISHED'",
    )
    assert [r.info.run_id for r in found] == [run_id]
    ordered = client.search_runs([experiment_id], order_by=["metrics.acc ASC"])
    assert [r.info.run_name for r in ordered] == ["second", "first"]
    # A refusal reaches the client as MLflow's error.
    client.log_param(other.info.run_id, "lr", "1")
    with pytest.raises(MlflowException) as refused:
        client.log_param(other.info.run_id, "lr", "2")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as ended:
        client.log_metric(run_id, "late", 1.0)
    assert ended.value.error_code == "INVALID_STATE"


def test_fluent_api_and_a_model_logged_and_loaded(tracking, tmp_path):
    uri, raw = tracking
    script = """
import mlflow, numpy as np
from sklearn.linear_model import LogisticRegression
mlflow.set_experiment("models")
with mlflow.start_run(run_name="fit") as run:
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    mlflow.log_metric("acc", 1.0)
    info = mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")
loaded = mlflow.sklearn.load_model(info.model_uri)
print("PRED", list(loaded.predict(np.array([[0.0], [3.0]]))), run.info.run_id)
"""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_TRACKING_TOKEN": raw}
    done = subprocess.run(
        [str(SANDBOX_PYTHON), "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("PRED"))
    assert "[np.int64(0), np.int64(1)]" in line or "[0, 1]" in line
    run = Run.objects.get(run_id=line.split()[-1])
    model = LoggedModel.objects.get(source_run=run)
    assert model.status == "LOGGED_MODEL_READY" and model.name == "model"


def test_another_workspace_is_refused(portal_server, personas, monkeypatch):
    raw = portal_services.token_create(user=personas["outsider"], name="x")[1]
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", raw)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = MlflowClient(tracking_uri=f"{portal_server}/mlflow/team-a")
    with pytest.raises(MlflowException) as refused:
        client.search_experiments()
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert sys.version_info >= (3, 11)
