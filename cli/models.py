"""``kp model``: register model versions from local files, runs' artifacts, a job's outputs,
URLs or claims; list, show, download, archive and restore them."""

from __future__ import annotations

import os
from pathlib import Path

from assets.archives import ArchiveError, pack_folder
from assets.model_refs import SourceError, is_uri, parse_source
from cli.context import Context
from cli.errors import EXIT_OK, EXIT_REFUSED, CliError, UsageError
from cli.output import format_time, key, print_fields, print_json, print_table

ENV_MAX_MODEL_BYTES = "KP_MAX_MODEL_BYTES"
DEFAULT_MAX_MODEL_BYTES = 2 * 1024 * 1024 * 1024

COLUMNS = [
    ("name", key("name")),
    ("version", key("version")),
    ("type", key("type")),
    ("source", key("source")),
    ("created", lambda m: format_time(m.get("created_at"))),
]


def _max_bytes() -> int:
    raw = os.environ.get(ENV_MAX_MODEL_BYTES, "")
    return int(raw) if raw.strip().isdigit() and int(raw) > 0 else DEFAULT_MAX_MODEL_BYTES


def _tags(values: list[str] | None) -> dict[str, str]:
    tags = {}
    for text in values or []:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--tag {text!r}: expected KEY=VALUE, e.g. --tag team=vision")
        tags[name.strip()] = value
    return tags


def _source(args) -> str:
    if args.from_job:
        if args.path:
            raise UsageError("give --path or --from-job with --artifact-path, not both")
        if not args.artifact_path:
            raise UsageError("--from-job needs --artifact-path (the folder or file in its outputs)")
        inner = args.artifact_path.strip("/")
        return f"azureml://jobs/{args.from_job}/outputs/artifacts/paths/{inner}"
    if args.artifact_path:
        raise UsageError("--artifact-path goes with --from-job JOB")
    if not args.path:
        raise UsageError("missing --path (a local file or folder, or a URI) or --from-job JOB")
    return args.path


def _upload(path: str) -> tuple[str, str, object]:
    """(form field, file name, body) of a local file or folder."""
    local = Path(path)
    if local.is_dir():
        try:
            return (
                "archive",
                "model.tar.gz",
                pack_folder(str(local), max_bytes=_max_bytes(), subject="model"),
            )
        except ArchiveError as exc:
            raise UsageError(f"{path}: cannot pack the model folder: {exc}") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the model folder: {exc}") from None
    if local.is_file():
        size = local.stat().st_size
        if size > _max_bytes():
            raise UsageError(
                f"{path}: {size} bytes, over the limit of {_max_bytes()} ({ENV_MAX_MODEL_BYTES})"
            )
        return "file", local.name, local.read_bytes()
    raise UsageError(
        f"{path}: no such file or folder (or give runs:/..., azureml://jobs/..., https://..., pvc://...)"
    )


def cmd_model_create(ctx: Context) -> int:
    """Registers a model version."""
    args = ctx.args
    source = _source(args)
    fields = {"name": args.name, "type": args.type, "description": args.description or ""}
    if args.version:
        fields["version"] = args.version
    if args.tag:
        fields["tags"] = _tags(args.tag)
    upload = None
    if is_uri(source):
        try:
            parse_source(source)
        except SourceError as exc:
            raise UsageError(f"--path: {exc}") from None
        fields["path"] = source
    else:
        upload = _upload(source)
    model = ctx.client.create_model(ctx.workspace, fields, upload)
    if ctx.json_output:
        print_json(model)
    else:
        files = model.get("files") or []
        held = f", {len(files)} file(s), {model.get('size', 0)} bytes" if files else ""
        print(f"Registered model {model['name']}:{model['version']} ({model['type']}{held})")
        print(f"Refer to it as {model['reference']}")
    return EXIT_OK


def cmd_model_list(ctx: Context) -> int:
    """Lists models (each one's latest version), or with --name that model's versions."""
    args = ctx.args
    params = {"name": args.name, "include_archived": "true" if args.include_archived else None}
    if not args.name:
        params["latest"] = "true"
    models = ctx.client.models(ctx.workspace, params)
    if ctx.json_output:
        print_json(models)
        return EXIT_OK
    columns = COLUMNS + ([("archived", key("archived"))] if args.include_archived else [])
    print_table(models, columns, empty="No models registered.")
    return EXIT_OK


def _version_of(args) -> str:
    if args.version and args.label:
        raise UsageError("give --version or --label, not both")
    if args.label and args.label != "latest":
        raise UsageError(f"--label {args.label!r}: the only label is latest")
    return args.version or "@latest"


def cmd_model_show(ctx: Context) -> int:
    """Shows one version (default: the latest), its lineage and files."""
    model = ctx.client.model(ctx.workspace, ctx.args.name, _version_of(ctx.args))
    if ctx.json_output:
        print_json(model)
        return EXIT_OK
    print_fields(
        [
            ("Name", model.get("name")),
            ("Version", model.get("version")),
            ("Type", model.get("type")),
            ("Reference", model.get("reference")),
            ("Description", model.get("description")),
            ("Tags", model.get("tags")),
            ("Archived", model.get("archived") or None),
            ("Source", model.get("source")),
            ("Job", model.get("job_name")),
            ("Run", model.get("run_id")),
            ("Created by", model.get("created_by")),
            ("Created", format_time(model.get("created_at"))),
        ]
    )
    files = model.get("files") or []
    if files:
        print("\nFiles:")
        print_table(files, [("path", key("path")), ("size", key("size"))], empty="")
    return EXIT_OK


def _safe(relative: str) -> str:
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise CliError(EXIT_REFUSED, f"the portal listed an unsafe path: {relative}")
    return "/".join(parts)


def cmd_model_download(ctx: Context) -> int:
    """Downloads a version's files into DIR/NAME/."""
    args = ctx.args
    model = ctx.client.model(ctx.workspace, args.name, args.version)
    files = model.get("files") or []
    if not files:
        raise CliError(
            EXIT_REFUSED,
            f"the portal holds no files of {args.name}:{args.version}; they are at {model.get('source')}",
        )
    target = Path(args.download_path or ".") / model["name"]
    saved = []
    for entry in files:
        relative = _safe(entry["path"])
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        response = ctx.client.model_file(ctx.workspace, model["name"], model["version"], relative)
        with open(destination, "wb") as out:
            for chunk in response.iter_content(1024 * 1024):
                out.write(chunk)
        saved.append(str(destination))
    if ctx.json_output:
        print_json({"downloaded": saved, "path": str(target)})
    else:
        print(f"Downloaded {len(saved)} file(s) to {target}{os.sep}")
    return EXIT_OK


def cmd_model_archive(ctx: Context) -> int:
    """Archives a version (hidden from lists and from @latest), or restores it."""
    action = "restore" if ctx.args.restore else "archive"
    model = ctx.client.model_action(ctx.workspace, ctx.args.name, ctx.args.version, action)
    if ctx.json_output:
        print_json(model)
    else:
        print(
            f"{'Restored' if ctx.args.restore else 'Archived'} model {model['name']}:{model['version']}"
        )
    return EXIT_OK


def add_parsers(p) -> None:
    """The ``kp model`` commands, added with the parser builder ``p``."""
    group = p.group("model", "Registered models (versioned).")
    create = p.add(group, "create", cmd_model_create,
                   "Register a model version from a local file or folder (uploaded), "
                   "runs:/<run-id>/<path>, azureml://jobs/<job>/outputs/artifacts/paths/<path>, "
                   "an http(s) URL or pvc://<claim>/<path>; or --from-job JOB --artifact-path P.")  # fmt: skip
    create.add_argument("--name", required=True)
    create.add_argument("--version", help="default: the next whole number")
    create.add_argument("--type", default="custom_model", choices=("custom_model", "mlflow_model"))
    create.add_argument("--description")
    create.add_argument("--tag", action="append", metavar="KEY=VALUE", help="repeatable")
    create.add_argument("--path", metavar="P", help="local file or folder, or a URI")
    create.add_argument("--from-job", metavar="JOB", help="a job whose outputs hold the model")
    create.add_argument("--artifact-path", metavar="P", help="with --from-job: e.g. outputs/model")
    listing = p.add(
        group, "list", cmd_model_list, "List models (latest versions), or one model's versions."
    )
    listing.add_argument("--name", help="that model's versions")
    listing.add_argument("--include-archived", action="store_true")
    show = p.add(group, "show", cmd_model_show, "Show a model version, its lineage and files.")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--version")
    show.add_argument("--label", help="latest (the default)")
    download = p.add(group, "download", cmd_model_download, "Download a version's files.")
    download.add_argument("name", metavar="NAME")
    download.add_argument("--version", required=True)
    download.add_argument("--download-path", metavar="DIR", help="where to (default: here)")
    archive = p.add(group, "archive", cmd_model_archive, "Archive a version (or --restore it).")
    archive.add_argument("name", metavar="NAME")
    archive.add_argument("--version", required=True)
    archive.add_argument("--restore", action="store_true", help="bring an archived version back")
