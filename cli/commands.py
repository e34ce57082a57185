"""The kp commands. Each takes the Context and returns an exit code or raises CliError."""

from __future__ import annotations

import getpass
import os
import re
import sys
from typing import Any

import yaml

from cli.client import PortalClient
from cli.config import (
    ENV_TOKEN,
    ENV_URL,
    Config,
    config_path,
    delete_config,
    first,
    load_config,
    normalize_url,
    save_config,
)
from cli.context import Context
from cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    CliError,
    UsageError,
)
from cli.follow import JobFollower
from cli.jobfile import local_code_value, pack_code, read_job_file, resolve_code_folder
from cli.output import format_time, key, print_fields, print_json, print_table
from cli.runs import print_run

JOB_COLUMNS = [
    ("name", key("name")),
    ("status", key("status")),
    ("experiment", key("experiment_name")),
    ("compute", key("compute")),
    ("instance type", key("instance_type")),
    ("created by", key("created_by")),
    ("created", lambda job: format_time(job.get("created_at"))),
]


def parse_pairs(values: list[str] | None, option: str) -> list[tuple[str, str]]:
    """Splits ``key=value`` arguments; raises UsageError naming the malformed ones."""
    pairs: list[tuple[str, str]] = []
    bad: list[str] = []
    for text in values or []:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name or any(ch.isspace() for ch in name):
            bad.append(
                f"{option} {text!r}: expected KEY=VALUE, e.g. {option} resources.instance_count=2"
            )
        else:
            pairs.append((name, value))
    if bad:
        raise UsageError(bad)
    return pairs


def overrides_from(args: Any) -> dict[str, str]:
    """The ``--set`` overrides as a dict (a repeated key keeps its last value)."""
    return dict(parse_pairs(getattr(args, "set", None), "--set"))


# ------------------------------------------------------------------ login / logout / workspaces


def _read_token(option: str | None) -> str:
    if option == "-":
        token = sys.stdin.readline().strip()
        if not token:
            raise UsageError("--token -: no token on standard input")
        return token
    token = first(option, os.environ.get(ENV_TOKEN))
    if token:
        return token
    if sys.stdin.isatty():
        token = getpass.getpass("API token: ").strip()
        if token:
            return token
    raise UsageError("no token: pass --token TOKEN, --token - (read stdin) or set KP_TOKEN")


def cmd_login(ctx: Context) -> int:
    """Verifies the token with GET /me/ and saves URL, token and workspace."""
    saved = load_config()
    raw_url = first(ctx.flag("url"), os.environ.get(ENV_URL), saved.url)
    if not raw_url:
        raise UsageError("--url is required, e.g. kp login --url https://portal.example.org")
    url = normalize_url(raw_url)
    token = _read_token(ctx.flag("token"))
    client = PortalClient(url, token)
    me = client.me() or {}
    slugs = [w.get("slug") for w in me.get("workspaces") or [] if isinstance(w, dict)]
    workspace = ctx.flag("workspace")
    if workspace and workspace not in slugs and me.get("is_itops"):
        # IT operations may act in workspaces they are not a member of.
        slugs += [w.get("slug") for w in client.workspaces() if w.get("slug") not in slugs]
    if workspace and workspace not in slugs:
        raise CliError(
            EXIT_NOT_FOUND,
            f"workspace {workspace!r} is not one of yours ({', '.join(slugs) or 'none'}); "
            "nothing was saved",
        )
    if not workspace:
        if saved.workspace in slugs and saved.url == url:
            workspace = saved.workspace
        elif len(slugs) == 1:
            workspace = slugs[0]
    path = save_config(Config(url=url, token=token, workspace=workspace))
    username = me.get("username") or "?"
    if ctx.json_output:
        print_json({"url": url, "username": username, "workspace": workspace, "config": str(path)})
        return EXIT_OK
    print(f"Logged in to {url} as {username}.")
    if workspace:
        print(f"Workspace: {workspace}")
    elif slugs:
        print(f"Choose a workspace with `kp workspace use SLUG` ({', '.join(slugs)}).")
    else:
        print("You are not a member of any workspace yet; ask a workspace admin.")
    return EXIT_OK


def cmd_logout(ctx: Context) -> int:
    """Forgets the token (the URL and workspace stay for the next login)."""
    path = config_path()
    saved = load_config(path)
    if not saved.token:
        print("Not logged in.")
        return EXIT_OK
    if saved.url or saved.workspace:
        save_config(Config(url=saved.url, token=None, workspace=saved.workspace), path)
    else:
        delete_config(path)
    print(f"Logged out: the token was removed from {path}.")
    return EXIT_OK


def _show_list(ctx: Context, rows: list[dict], columns, *, empty: str) -> int:
    """Prints ``rows`` as JSON with ``-o json``, else as a table; returns EXIT_OK."""
    if ctx.json_output:
        print_json(rows)
    else:
        print_table(rows, columns, empty=empty)
    return EXIT_OK


def cmd_workspace_list(ctx: Context) -> int:
    """Lists the user's workspaces; ``*`` marks the current one."""
    workspaces = ctx.client.workspaces()
    current = first(ctx.flag("workspace"), os.environ.get("KP_WORKSPACE"), ctx.config.workspace)
    columns = [
        ("", lambda w: "*" if w.get("slug") == current else ""),
        ("slug", key("slug")),
        ("name", key("name")),
        ("role", key("role")),
        ("description", key("description")),
    ]
    return _show_list(ctx, workspaces, columns, empty="You are not a member of any workspace.")


def cmd_workspace_use(ctx: Context) -> int:
    """Makes SLUG the current workspace after checking the user belongs to it."""
    slug = ctx.args.slug
    slugs = [w.get("slug") for w in ctx.client.workspaces()]
    if slug not in slugs:
        raise CliError(
            EXIT_NOT_FOUND, f"workspace {slug!r} is not one of yours ({', '.join(slugs) or 'none'})"
        )
    saved = load_config()
    save_config(Config(url=saved.url or ctx.url, token=saved.token, workspace=slug))
    print(f"Current workspace: {slug}")
    return EXIT_OK


# ------------------------------------------------------------------ jobs


def _print_job_summary(ctx: Context, job: dict, verb: str) -> None:
    if ctx.json_output:
        print_json(job)
        return
    print(f"{verb} job {job.get('name')}.")
    print_fields(
        [
            ("Name", job.get("name")),
            ("Status", job.get("status")),
            ("URL", ctx.web_url(job.get("url"))),
        ]
    )


def _stream(ctx: Context, job: dict) -> int:
    """Follows ``job`` to its end; 0 when Completed, 1 otherwise."""
    name = str(job.get("name"))
    out = sys.stderr if ctx.json_output else sys.stdout
    follower = JobFollower(ctx.client, ctx.workspace, name, status_out=out, log_out=out)
    try:
        final = follower.run()
    except KeyboardInterrupt:
        raise CliError(
            EXIT_INTERRUPTED,
            f"stopped following; job {name} keeps running (`kp job cancel {name}` stops it)",
        ) from None
    status = final.get("status")
    if ctx.json_output:
        print_json(final)
    if status == "Completed":
        if not ctx.json_output:
            print(f"Job {name} completed.")
        return EXIT_OK
    reason = final.get("status_reason")
    print(f"kp: job {name} ended {status}" + (f": {reason}" if reason else ""), file=sys.stderr)
    return EXIT_REFUSED


def cmd_job_create(ctx: Context) -> int:
    """Submits a job file, uploading its local code folder first."""
    job_file = read_job_file(ctx.args.file)
    overrides = overrides_from(ctx.args)
    workspace = ctx.workspace
    code = local_code_value(overrides.get("code", job_file.data.get("code")))
    if code is not None:
        archive = pack_code(resolve_code_folder(job_file, code))
        upload = ctx.client.upload_code(workspace, archive) or {}
        ref = upload.get("ref")
        if not isinstance(ref, str) or not ref:
            raise CliError(
                EXIT_UNREACHABLE, "the portal accepted the code upload but returned no `ref`"
            )
        if not ctx.json_output:
            files = upload.get("files")
            size = upload.get("size", len(archive))
            detail = f"{files} files, {size} bytes" if files is not None else f"{size} bytes"
            print(f"Uploaded code {code} ({detail}): {ref}", file=sys.stderr)
        overrides["code"] = ref
    try:
        job = ctx.client.create_job(workspace, job_file.text, overrides)
    except CliError as exc:
        _locate_field_errors(exc, job_file.label)
        raise
    if ctx.args.stream:
        if not ctx.json_output:
            _print_job_summary(ctx, job, "Created")
        return _stream(ctx, job)
    _print_job_summary(ctx, job, "Created")
    return EXIT_OK


def _locate_field_errors(exc: CliError, label: str) -> None:
    """Rewrites ``path: line L, column C: msg`` lines as ``file:L:C: path: msg``."""
    errors = getattr(exc, "errors", None)
    if not errors:
        return
    lines = [exc.lines[0]] if exc.lines else []
    for path, message in exc.field_lines():  # type: ignore[attr-defined]
        lines.append(_locate(label, path, message))
    exc.lines = lines


def _locate(label: str, path: str, message: str) -> str:
    match = re.match(r"^line (\d+)(?:, column (\d+))?: (.*)$", message, re.DOTALL)
    if not match:
        return f"{path}: {message}" if path else f"{label}: {message}"
    where = f"{label}:{match[1]}" + (f":{match[2]}" if match[2] else "")
    return f"{where}: {path}: {match[3]}" if path else f"{where}: {match[3]}"


def cmd_job_list(ctx: Context) -> int:
    """Lists jobs, newest first."""
    args = ctx.args
    tags = parse_pairs(args.tag, "--tag")
    params: list[tuple[str, Any]] = [
        ("status", args.status),
        ("experiment", args.experiment),
        ("compute", args.compute),
        ("search", args.search),
        ("created_by", args.user),
    ] + [("tag", f"{name}={value}") for name, value in tags]
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    jobs = ctx.client.jobs(ctx.workspace, params, limit=args.limit)
    return _show_list(ctx, jobs, JOB_COLUMNS, empty="No jobs found.")


def cmd_job_show(ctx: Context) -> int:
    """Shows one job with its transitions and instances."""
    job = ctx.client.job(ctx.workspace, ctx.args.name)
    if ctx.json_output:
        print_json(job)
        return EXIT_OK
    tags = job.get("tags") or {}
    print_fields(
        [
            ("Name", job.get("name")),
            ("Display name", job.get("display_name")),
            ("Status", job.get("status")),
            ("Reason", job.get("status_reason")),
            ("Experiment", job.get("experiment_name")),
            ("Compute", job.get("compute")),
            ("Instance type", job.get("instance_type")),
            ("Created by", job.get("created_by")),
            ("Created", format_time(job.get("created_at"))),
            ("Tags", tags if isinstance(tags, dict) else None),
            ("URL", ctx.web_url(job.get("url"))),
        ]
    )
    print_run(job)
    transitions = [t for t in job.get("transitions") or [] if isinstance(t, dict)]
    if transitions:
        print("\nTransitions:")
        columns = [
            ("at", lambda t: format_time(t.get("at"))),
            ("from", key("from")),
            ("to", key("to")),
            ("reason", key("reason")),
        ]
        print_table(transitions, columns, empty="")
    instances = [i for i in job.get("instances") or [] if isinstance(i, dict)]
    if instances:
        print("\nInstances:")
        columns = [("index", key("index")), ("pod", key("pod")), ("phase", key("phase")),
                   ("node", key("node"))]  # fmt: skip
        print_table(instances, columns, empty="")
    return EXIT_OK


def cmd_job_cancel(ctx: Context) -> int:
    """Asks the portal to cancel a job."""
    job = ctx.client.cancel_job(ctx.workspace, ctx.args.name)
    if ctx.json_output:
        print_json(job)
    else:
        print(f"Cancel requested for job {job.get('name', ctx.args.name)}: {job.get('status')}")
    return EXIT_OK


def cmd_job_clone(ctx: Context) -> int:
    """Re-runs a job with the same spec and ``--set`` overrides."""
    job = ctx.client.clone_job(ctx.workspace, ctx.args.name, overrides_from(ctx.args))
    if ctx.args.stream:
        if not ctx.json_output:
            _print_job_summary(ctx, job, "Created")
        return _stream(ctx, job)
    _print_job_summary(ctx, job, "Created")
    return EXIT_OK


def cmd_job_logs(ctx: Context) -> int:
    """Prints a job's log (one instance); with --follow, until the job ends."""
    args = ctx.args
    if args.instance < 0:
        raise UsageError("--instance must be 0 or more")
    if args.follow:
        follower = JobFollower(
            ctx.client, ctx.workspace, args.name, instance=args.instance, show_status=False
        )
        follower.run()
        return EXIT_OK
    text, _ = ctx.client.job_logs(ctx.workspace, args.name, instance=args.instance)
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


# ------------------------------------------------------------------ compute, environments


def _quota_summary(target: dict) -> str:
    parts = []
    for item in target.get("quota") or []:
        if isinstance(item, dict):
            text = f"{item.get('resource')} {item.get('used')}/{item.get('hard')}"
            if item.get("percent") is not None:
                text += f" ({item.get('percent')}%)"
            parts.append(text)
    return ", ".join(parts)


def cmd_compute_list(ctx: Context) -> int:
    """Lists the workspace's compute targets."""
    targets = ctx.client.compute_targets(ctx.workspace)
    columns = [
        ("name", key("name")),
        (
            "status",
            lambda t: " - ".join(str(x) for x in (t.get("status"), t.get("status_reason")) if x),
        ),
        ("cluster", key("cluster")),
        ("namespace", key("namespace")),
        ("instance types", lambda t: [i.get("name") for i in t.get("instance_types") or []]),
        ("quota", _quota_summary),
    ]
    return _show_list(ctx, targets, columns, empty="No compute targets in this workspace.")


def cmd_instance_type_list(ctx: Context) -> int:
    """Lists instance types with free and total slots."""
    types = ctx.client.instance_types(ctx.workspace, ctx.args.compute)
    columns = [
        ("name", key("name")),
        ("cluster", key("cluster")),
        ("requests", key("requests")),
        ("limits", key("limits")),
        ("free/capacity", lambda t: f"{t.get('free_slots', '?')}/{t.get('capacity_slots', '?')}"),
        ("fits", key("fits")),
    ]
    return _show_list(ctx, types, columns, empty="No instance types available.")


ENVIRONMENT_FIELDS = ("name", "version", "image", "description")


def cmd_environment_create(ctx: Context) -> int:
    """Registers an environment from flags or a YAML file (flags win)."""
    args = ctx.args
    fields: dict[str, str] = {}
    if args.file:
        fields.update(_read_environment_file(args.file))
    for name in ENVIRONMENT_FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            fields[name] = value
    missing = [f"--{name}" for name in ("name", "version", "image") if not fields.get(name)]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (give them as flags or in -f FILE)")
    environment = ctx.client.create_environment(ctx.workspace, fields)
    if ctx.json_output:
        print_json(environment)
    else:
        env = environment or fields
        print(f"Registered environment {env.get('name')}:{env.get('version')} ({env.get('image')})")
    return EXIT_OK


def _read_environment_file(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise UsageError(f"{where}: not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: must be a mapping with name, version, image, description")
    unknown = sorted(str(k) for k in data if k not in ENVIRONMENT_FIELDS)
    if unknown:
        raise UsageError(f"{path}: unknown field(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(ENVIRONMENT_FIELDS)}")  # fmt: skip
    return {str(k): str(v) for k, v in data.items() if v is not None}


def cmd_environment_list(ctx: Context) -> int:
    """Lists the workspace's registered environments."""
    environments = ctx.client.environments(ctx.workspace)
    columns = [
        ("name", key("name")),
        ("version", key("version")),
        ("image", key("image")),
        ("description", key("description")),
        ("created", lambda e: format_time(e.get("created_at"))),
    ]
    return _show_list(ctx, environments, columns, empty="No environments registered.")
