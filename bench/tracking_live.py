"""Run tracking, live: the delay from a point logged through the MLflow API to that point
drawn in a chart in Chromium, at a steady rate of points per second.

Run by hand (prints figures, asserts nothing):

    .venv/bin/python bench/tracking_live.py [--rate 1000] [--seconds 10] [--batch 50]

The portal runs as deployed in the embedded mode (one uvicorn process with its lifespan,
SQLite in a temporary data folder, no sandbox); this process logs batches of ``--batch``
points at ``--rate`` points/s with the MLflow API (a personal token), each point's timestamp
the moment it was sent; the page, logged in as a reader, records when each point is drawn
(the charts' ``charts:drawn`` event). Both clocks are this machine's.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "bench-password-1"


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def prepare() -> tuple[str, str]:
    """Migrates a fresh database and makes the users, token and run; returns (token, run id)."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from portal import services as portal_services
    from portal.models import Membership, Role, User, Workspace
    from tracking import store

    workspace = Workspace.objects.create(slug="bench", name="Bench")
    writer = User.objects.create_user("writer", password=PASSWORD)
    reader = User.objects.create_user("reader", password=PASSWORD)
    Membership.objects.create(workspace=workspace, user=writer, role=Role.DATA_SCIENTIST)
    Membership.objects.create(workspace=workspace, user=reader, role=Role.READER)
    run = store.run_create(experiment=store.experiment_for(workspace, "live"), name="live")
    store.log_batch(run, metrics=[{"key": "loss", "value": 1.0, "step": 0, "timestamp": 1}])
    return portal_services.token_create(user=writer, name="bench")[1], run.run_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000, help="points per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=50, help="points per log-batch call")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="bench-tracking-live-")
    env = {
        **os.environ,
        "PORTAL_DATA_DIR": data,
        "PORTAL_SANDBOX": "0",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("PORTAL_", "DJANGO_"))})
    token, run_id = prepare()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--port", str(port),
         "--lifespan", "on", "--ws", "websockets-sansio", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/login/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise SystemExit("the portal did not start") from None
                time.sleep(0.2)
        measure(base, token, run_id, args)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)


def measure(base: str, token: str, run_id: str, args) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        page = browser.new_page()
        page.goto(f"{base}/login/")
        page.get_by_label("Username").fill("reader")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("[data-testid=whoami]")
        page.goto(f"{base}/runs/bench/{run_id}/")
        page.wait_for_selector("[data-charts][data-loaded=true]")
        page.wait_for_function(
            "() => document.body['htmx-internal-data']?.webSocket?.socket?.readyState === 1"
        )
        page.evaluate(
            """() => { window.delays = [];
              document.querySelector('[data-charts]').addEventListener('charts:drawn', (e) => {
                const now = Date.now();
                for (const t of e.detail.timestamps) window.delays.push(now - t);
              }); }"""
        )
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        url = f"{base}/mlflow/bench/api/2.0/mlflow/runs/log-batch"
        step, sent, started = 1, 0, time.monotonic()
        while time.monotonic() - started < args.seconds:
            now_ms = int(time.time() * 1000)
            metrics = [
                {"key": "loss", "value": 1 / (step + i), "step": step + i, "timestamp": now_ms}
                for i in range(args.batch)
            ]
            response = session.post(url, json={"run_id": run_id, "metrics": metrics}, timeout=10)
            response.raise_for_status()
            step += args.batch
            sent += args.batch
            pause = started + (sent / args.rate) - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        elapsed = time.monotonic() - started
        time.sleep(2)  # the last points' way to the page
        delays = page.evaluate("() => window.delays")
        browser.close()
    print(
        f"logged {sent:,} points in {elapsed:.1f} s ({sent / elapsed:,.0f} points/s, "
        f"batches of {args.batch}); drawn {len(delays):,} "
        f"({100 * len(delays) / max(sent, 1):.1f}%)"
    )
    if delays:
        print(
            f"point logged -> drawn in the chart: median {statistics.median(delays):.0f} ms, "
            f"p99 {percentile(delays, 99):.0f} ms, max {max(delays):.0f} ms"
        )


if __name__ == "__main__":
    main()
