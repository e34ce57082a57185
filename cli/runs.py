"""``kp job metrics`` and ``kp job download``: a job's MLflow run, read through the
workspace's tracking API with the same token."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from cli.context import Context
from cli.errors import EXIT_OK, UsageError
from cli.output import key, print_json, print_table


def _run_of(ctx: Context) -> dict:
    job = ctx.client.job(ctx.workspace, ctx.args.name)
    if not job.get("run_id"):
        raise UsageError(f"job {ctx.args.name} has no run")
    return job


def print_run(job: dict) -> None:
    """The run id and latest metrics, under ``kp job show``."""
    if not job.get("run_id"):
        return
    print(f"\nRun: {job['run_id']}")
    metrics = [m for m in job.get("metrics") or [] if isinstance(m, dict)]
    if metrics:
        print("\nMetrics (latest):")
        columns = [("key", key("key")), ("value", key("value")), ("step", key("step"))]
        print_table(metrics, columns, empty="")


def cmd_job_metrics(ctx: Context) -> int:
    """Prints a job's latest metrics, or with --key one metric's whole history."""
    job = _run_of(ctx)
    if not ctx.args.key:
        metrics = job.get("metrics") or []
        if ctx.json_output:
            print_json(metrics)
        else:
            columns = [("key", key("key")), ("value", key("value")), ("step", key("step"))]
            print_table(metrics, columns, empty="No metrics logged.")
        return EXIT_OK
    points = ctx.client.metric_history(ctx.workspace, job["run_id"], ctx.args.key)
    if ctx.json_output:
        print_json(points)
    else:
        columns = [("step", key("step")), ("value", key("value")), ("timestamp", key("timestamp"))]
        print_table(points, columns, empty=f"No points of {ctx.args.key}.")
    return EXIT_OK


def _safe(relative: str) -> str:
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UsageError(f"the portal listed an unsafe path: {relative}")
    return "/".join(parts)


def cmd_job_download(ctx: Context) -> int:
    """Downloads a job's outputs (its run's artifacts), or the part under --path."""
    job = _run_of(ctx)
    root = job["artifact_root"]
    start = _safe(ctx.args.path or "")
    target = Path(ctx.args.download_path or ".") / job["name"]
    pending = [start]
    saved = []
    while pending:
        folder = pending.pop()
        listed = ctx.client.artifact_files(
            ctx.workspace, posixpath.join(root, folder) if folder else root
        )
        for entry in listed:
            relative = _safe(posixpath.join(folder, entry["path"]) if folder else entry["path"])
            if entry.get("is_dir"):
                pending.append(relative)
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            response = ctx.client.artifact(ctx.workspace, f"{root}/{relative}")
            with open(destination, "wb") as out:
                for chunk in response.iter_content(1024 * 1024):
                    out.write(chunk)
            saved.append(str(destination))
    if ctx.json_output:
        print_json({"downloaded": saved, "path": str(target)})
    elif saved:
        print(f"Downloaded {len(saved)} file(s) to {target}{os.sep}")
    else:
        print("Nothing to download.")
    return EXIT_OK
