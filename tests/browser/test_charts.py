"""Run charts in Chromium: drawn from the server's series, grown live as points are logged,
compared across runs, and the Outputs section's previews."""

import io
import threading

import pytest
import requests
from playwright.sync_api import expect

from portal import services as portal_services
from tests.browser.test_roles import login
from tracking import artifacts, store

pytestmark = pytest.mark.browser


def points(key, start, count, *, value=lambda s: 1.0 / (s + 1)):
    return [
        {"key": key, "value": value(s), "step": s, "timestamp": 1_700_000_000_000 + s}
        for s in range(start, start + count)
    ]


@pytest.fixture
def run(personas, team_a):
    experiment = store.experiment_create(team_a, "charts")
    made = store.run_create(experiment=experiment, name="live-run", user=personas["scientist"])
    store.log_batch(made, metrics=points("loss", 0, 20), params=[{"key": "lr", "value": "0.1"}])
    return made


def log_over_http(base, user, run, metrics):
    """Logs like a training script does: the MLflow API over HTTP, with a personal token."""
    token = portal_services.token_create(user=user, name="script")[1]
    response = requests.post(
        f"{base}/mlflow/team-a/api/2.0/mlflow/runs/log-batch",
        json={"run_id": run.run_id, "metrics": metrics},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def wait_for_socket(page):
    page.wait_for_function(
        "() => document.body['htmx-internal-data']?.webSocket?.socket?.readyState === 1"
    )


def test_a_chart_grows_as_the_run_logs(page, portal_server, run, personas):
    login(page, portal_server, "reader")
    page.goto(f"{portal_server}/runs/team-a/{run.run_id}/")
    charts = page.get_by_test_id("charts")
    expect(charts).to_have_attribute("data-loaded", "true")
    expect(charts).to_have_attribute("data-points", "20")
    expect(page.locator("figure.chart[data-metric=loss] canvas")).to_have_count(1)
    wait_for_socket(page)

    scientist = personas["scientist"]
    log_over_http(portal_server, scientist, run, points("loss", 20, 30))
    expect(charts).to_have_attribute("data-points", "50")
    # A metric the run starts logging gets a chart (and a picker entry) of its own.
    log_over_http(portal_server, scientist, run, points("accuracy", 0, 5, value=lambda s: s / 10))
    expect(page.locator("figure.chart[data-metric=accuracy] canvas")).to_have_count(1)
    expect(charts).to_have_attribute("data-points", "55")

    # Both in one chart, then each alone again.
    page.get_by_label("chosen metrics in one chart").check()
    expect(page.locator("figure.chart")).to_have_count(1)
    page.get_by_label("chosen metrics in one chart").uncheck()
    expect(page.locator("figure.chart")).to_have_count(2)
    page.get_by_label("accuracy").uncheck()
    expect(page.locator("figure.chart")).to_have_count(1)
    # By time: the series are read again along the time axis.
    page.get_by_label("x axis").select_option("time")
    expect(page.locator("figure.chart[data-metric=loss] canvas")).to_have_count(1)


def test_compare_overlays_runs_and_previews_outputs(page, portal_server, run, team_a):
    other = store.run_create(experiment=run.experiment, name="other-run")
    store.log_batch(other, metrics=points("loss", 0, 10), params=[{"key": "lr", "value": "0.2"}])
    data = b"epoch,loss\n0,1.0\n1,0.5\n"
    artifacts.save(team_a.pk, f"{run.artifact_root}/eval/metrics.csv", io.BytesIO(data), len(data))

    login(page, portal_server, "reader")
    page.goto(f"{portal_server}/experiments/team-a/{run.experiment_id}/")
    page.get_by_label("compare live-run").check()
    page.get_by_label("compare other-run").check()
    page.get_by_role("button", name="Compare selected runs").click()
    charts = page.get_by_test_id("charts")
    expect(charts).to_have_attribute("data-points", "30")
    legend = page.locator("figure.chart[data-metric=loss] .u-legend")
    expect(legend).to_contain_text("live-run")
    expect(legend).to_contain_text("other-run")
    expect(page.locator("tr.differs")).to_have_count(2)  # lr, and the latest loss

    page.goto(f"{portal_server}/runs/team-a/{run.run_id}/")
    page.get_by_text("eval/").click()
    page.get_by_role("button", name="preview").click()
    expect(page.get_by_test_id("csv-preview")).to_contain_text("loss")


def test_a_long_series_is_drawn_from_buckets_with_their_extremes(page, portal_server, run):
    # Logged from another thread: this one runs the browser's event loop.
    thread = threading.Thread(
        target=lambda: [
            store.log_batch(run, metrics=points("loss", start, 1000))
            for start in range(20, 5020, 1000)
        ]
    )
    thread.start()
    thread.join()
    login(page, portal_server, "reader")
    page.goto(f"{portal_server}/runs/team-a/{run.run_id}/")
    charts = page.get_by_test_id("charts")
    expect(charts).to_have_attribute("data-loaded", "true")
    drawn = int(charts.get_attribute("data-points"))
    assert 0 < drawn < 1000  # buckets, not the 5,020 points
    legend = page.locator("figure.chart[data-metric=loss] .u-legend")
    expect(legend).to_contain_text("loss min")
    expect(legend).to_contain_text("loss max")
