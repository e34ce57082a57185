"""The studio's tracking pages: who sees them, the experiment's run table (columns, MLflow
filter and ordering, pages), comparison, a run's series for charts, and its Outputs."""

import io
import json

import pytest

from portal import live
from tracking import artifacts, store
from tracking.models import Run

pytestmark = pytest.mark.django_db

P = ["anonymous", "itops", "admin", "scientist", "reader", "outsider"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def row(*codes):
    return dict(zip(P, codes, strict=True))


def log(run, key, values, *, rank=0, start=0):
    store.log_batch(
        run,
        metrics=[
            {"key": key, "value": v, "step": start + i, "timestamp": 1_700_000_000_000 + i}
            for i, v in enumerate(values)
        ],
        rank=rank,
    )


def put(run, path, data: bytes):
    artifacts.save(run.workspace_id, f"{run.artifact_root}/{path}", io.BytesIO(data), len(data))


@pytest.fixture
def experiment(personas, team_a):
    return store.experiment_create(team_a, "digits")


@pytest.fixture
def runs(experiment, personas):
    made = []
    for i, (lr, accuracy) in enumerate([("0.1", 0.7), ("0.01", 0.9), ("0.001", 0.8)]):
        run = store.run_create(experiment=experiment, name=f"run-{i}", user=personas["scientist"])
        store.log_batch(
            run,
            params=[{"key": "lr", "value": lr}, {"key": "epochs", "value": "10"}],
            metrics=[{"key": "accuracy", "value": accuracy, "step": 9, "timestamp": 1}],
        )
        log(run, "loss", [1.0 / (s + 1) for s in range(10)])
        made.append(run)
    return made


@pytest.fixture
def outputs(runs):
    run = runs[0]
    put(run, "notes.txt", b"hello from the run\n")
    put(run, "metrics.csv", b"epoch,loss\n0,1.0\n1,0.5\n")
    put(run, "config.json", b'{"lr": 0.1, "layers": [64, 32]}')
    put(run, "plots/loss.png", PNG)
    put(run, "page.html", b"<script>alert(1)</script>")
    put(run, "model.bin", b"\x00\x01\x02binary")
    return run


def test_tracking_pages_matrix(runs, outputs, client_for):
    run = runs[0].run_id
    exp = runs[0].experiment_id
    cases = [
        ("/experiments/team-a/", row(302, 200, 200, 200, 200, 404)),
        (f"/experiments/team-a/{exp}/", row(302, 200, 200, 200, 200, 404)),
        (f"/experiments/team-b/{exp}/", row(302, 404, 404, 404, 404, 404)),
        (f"/experiments/team-a/compare?run={run}", row(302, 200, 200, 200, 200, 404)),
        (f"/runs/team-a/{run}/", row(302, 200, 200, 200, 200, 404)),
        (f"/runs/team-b/{run}/", row(302, 404, 404, 404, 404, 404)),
        (f"/runs/team-a/{run}/series", row(302, 200, 200, 200, 200, 404)),
        (f"/runs/team-a/{run}/files?path=plots", row(302, 200, 200, 200, 200, 404)),
        (f"/runs/team-a/{run}/files/notes.txt", row(302, 200, 200, 200, 200, 404)),
    ]
    failures = []
    for url, expected in cases:
        for persona in P:
            got = client_for(persona).get(url).status_code
            if got != expected[persona]:
                failures.append(f"{persona} GET {url}: {got}, expected {expected[persona]}")
    assert not failures, "\n".join(failures)


def test_the_run_group_is_joined_by_the_workspace_only(runs, personas):
    group = live.group_name("tracking.run", runs[0].pk)
    allowed = {name: live.can_join(user, group) for name, user in personas.items()}
    assert allowed == dict(itops=True, admin=True, scientist=True, reader=True, outsider=False)


def test_experiments_are_listed_with_their_run_counts(runs, client_for):
    page = client_for("reader").get("/experiments/team-a/").content.decode()
    assert "digits" in page and "<td>3</td>" in page
    assert "/mlflow/team-a" in page  # the tracking URI to use from outside


def test_experiment_table_has_chosen_columns_filter_order_and_pages(runs, client_for):
    client = client_for("reader")
    url = f"/experiments/team-a/{runs[0].experiment_id}/"
    page = client.get(url).content.decode()
    # Default columns: params and latest metrics, with their values.
    for column in ("params.lr", "params.epochs", "metrics.accuracy", "metrics.loss"):
        assert f'data-column="{column}"' in page
    assert "0.001" in page and "0.9" in page
    page = client.get(url, {"col": ["metrics.accuracy"]}).content.decode()
    assert 'data-column="metrics.accuracy"' in page and 'data-column="params.lr"' not in page
    # MLflow's filter syntax.
    page = client.get(url, {"filter": "metrics.accuracy > 0.75"}).content.decode()
    assert "run-1" in page and "run-2" in page and "run-0" not in page
    page = client.get(url, {"filter": "params.lr = '0.1'"}).content.decode()
    assert "run-0" in page and "run-1" not in page
    # Ordering by a metric.
    page = client.get(url, {"order": "metrics.accuracy DESC"}).content.decode()
    assert page.index("run-1") < page.index("run-2") < page.index("run-0")
    page = client.get(url, {"order": "metrics.accuracy ASC"}).content.decode()
    assert page.index("run-0") < page.index("run-2") < page.index("run-1")
    # A bad filter: 400 with MLflow's sentence, never a 500.
    response = client.get(url, {"filter": "metrics.accuracy >> 1"})
    assert response.status_code == 400
    assert "Invalid filter" in response.content.decode()
    response = client.get(url, {"order": "nothing.x DESC"})
    assert response.status_code == 400


def test_experiment_pages_through_many_runs(experiment, client_for, monkeypatch):
    from tracking import studio

    monkeypatch.setattr(studio, "PAGE_SIZE", 2)
    for i in range(5):
        store.run_create(experiment=experiment, name=f"many-{i}")
    client = client_for("reader")
    url = f"/experiments/team-a/{experiment.pk}/"
    first = client.get(url).content.decode()
    assert "Page 1 of 3 (5 runs)" in first
    last = client.get(url, {"page": "3"}).content.decode()
    assert "many-0" in last and "many-4" not in last


def test_compare_shows_differences(runs, client_for):
    query = "&".join(f"run={r.run_id}" for r in runs)
    response = client_for("reader").get(f"/experiments/team-a/compare?{query}")
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("data-differs") == 2  # lr and accuracy differ; epochs and loss do not
    assert page.count("data-source") == 3  # one chart source per run
    # Runs of another workspace are never compared.
    assert client_for("outsider").get(f"/experiments/team-b/compare?{query}").status_code == 404


def test_series_are_downsampled_to_the_width_and_keep_ranks_apart(runs, client_for):
    run = runs[0]
    log(run, "loss", [float(i % 7) for i in range(500)], start=10)
    log(run, "loss", [5.0, float("inf")], rank=1)
    body = client_for("reader").get(f"/runs/team-a/{run.run_id}/series?width=50").json()
    loss = body["series"]["loss"]
    assert loss["total"] == 510
    assert len(loss["x"]) <= 50
    assert max(loss["high"]) == 6.0 and min(loss["low"]) == 0.0
    ranked = body["series"]["loss/rank-1"]
    assert ranked["mean"] == [5.0, None]  # infinity is a gap, not invalid JSON
    json.dumps(body, allow_nan=False)
    by_time = client_for("reader").get(f"/runs/team-a/{run.run_id}/series?x=time&key=accuracy")
    assert list(by_time.json()["series"]) == ["accuracy"]
    assert by_time.json()["x"] == "timestamp"


def test_outputs_tree_previews_and_downloads(outputs, client_for):
    client = client_for("reader")
    base = f"/runs/team-a/{outputs.run_id}"
    page = client.get(f"{base}/").content.decode()
    for name in ("notes.txt", "metrics.csv", "config.json", "plots/"):
        assert name in page
    folder = client.get(f"{base}/files", {"path": "plots"}).content.decode()
    assert 'data-file="plots/loss.png"' in folder
    csv_preview = client.get(f"{base}/files", {"path": "metrics.csv", "preview": "1"})
    assert '<th scope="col">loss</th>' in csv_preview.content.decode()
    json_preview = client.get(f"{base}/files", {"path": "config.json", "preview": "1"})
    assert "&quot;layers&quot;: [\n    64," in json_preview.content.decode()
    text = client.get(f"{base}/files", {"path": "page.html", "preview": "1"}).content.decode()
    assert "&lt;script&gt;" in text and "<script>alert" not in text
    image = client.get(f"{base}/files", {"path": "plots/loss.png", "preview": "1"}).content.decode()
    assert f"{base}/files/plots/loss.png?inline=1" in image
    binary = client.get(f"{base}/files", {"path": "model.bin", "preview": "1"}).content.decode()
    assert "binary file" in binary
    # Downloads: attachments, except raster images asked for inline; HTML never rendered.
    download = client.get(f"{base}/files/page.html")
    assert download["Content-Disposition"].startswith("attachment")
    assert download["Content-Type"] == "application/octet-stream"
    assert b"".join(download.streaming_content) == b"<script>alert(1)</script>"
    inline = client.get(f"{base}/files/plots/loss.png?inline=1")
    assert inline["Content-Type"] == "image/png" and "attachment" not in inline.get(
        "Content-Disposition", ""
    )
    assert client.get(f"{base}/files/page.html?inline=1")["Content-Type"] == (
        "application/octet-stream"
    )


@pytest.mark.parametrize("path", ["../other", "/etc/passwd", "a/../../b", "missing.txt"])
def test_bad_output_paths_are_not_found(outputs, client_for, path):
    client = client_for("reader")
    base = f"/runs/team-a/{outputs.run_id}"
    assert client.get(f"{base}/files", {"path": path, "preview": "1"}).status_code == 404
    assert client.get(f"{base}/files/{path.lstrip('/')}").status_code == 404


def test_a_run_id_of_another_workspace_is_not_found(runs, team_b, client_for):
    other = store.run_create(experiment=store.experiment_create(team_b, "b"), name="b-run")
    client = client_for("reader")
    assert client.get(f"/runs/team-a/{other.run_id}/").status_code == 404
    assert client.get(f"/runs/team-a/{other.run_id}/series").status_code == 404
    assert client.get("/runs/team-a/not-a-run!/").status_code == 404
    assert Run.objects.filter(pk=other.pk).exists()
