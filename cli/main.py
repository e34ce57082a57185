"""kp, the command-line client of the portal: argument parsing and error reporting."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from cli import commands, models, runs
from cli.context import Context
from cli.errors import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    CliError,
)

Handler = Callable[[Context], int]

DESCRIPTION = "Submit and follow ML jobs on a kubeportal from your terminal."
EPILOG = (
    EXIT_CODES_HELP
    + """
settings: flags win over the environment (KP_URL, KP_TOKEN, KP_WORKSPACE), which wins over
the config file written by `kp login`: $KP_CONFIG, default ~/.config/kubeportal/config.json
(mode 0600).
"""
)


def _global_options(defaults: bool) -> argparse.ArgumentParser:
    """Options accepted before or after the command; sub-parsers must not reset them."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("global options")
    default = None if defaults else argparse.SUPPRESS
    group.add_argument(
        "-o", "--output", choices=("table", "json"),
        default="table" if defaults else argparse.SUPPRESS,
        help="table for people (default), json for scripts",
    )  # fmt: skip
    group.add_argument("--url", default=default, help="portal address (env KP_URL)")
    group.add_argument("--token", default=default, help="API token (env KP_TOKEN)")
    group.add_argument(
        "-w", "--workspace", default=default, help="workspace slug (env KP_WORKSPACE)"
    )
    return parent


class _Parsers:
    """Builds sub-commands that all take the global options."""

    def __init__(self, root: argparse._SubParsersAction, common: argparse.ArgumentParser):
        self.root = root
        self.common = common

    def add(
        self,
        subparsers: argparse._SubParsersAction,
        name: str,
        handler: Handler | None,
        help_text: str,
    ) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[self.common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if handler is not None:
            parser.set_defaults(handler=handler)
        return parser

    def group(self, name: str, help_text: str) -> argparse._SubParsersAction:
        parser = self.add(self.root, name, None, help_text)
        parser.set_defaults(handler=None, group_parser=parser)
        return parser.add_subparsers(title="commands", metavar="COMMAND")


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", action="append", metavar="KEY.PATH=VALUE",
        help="override a spec field, e.g. --set resources.instance_count=2 (repeatable)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The kp argument parser."""
    parser = argparse.ArgumentParser(
        prog="kp",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[_global_options(defaults=True)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=None, group_parser=parser)
    root = parser.add_subparsers(title="commands", metavar="COMMAND")
    p = _Parsers(root, _global_options(defaults=False))

    p.add(root, "login", commands.cmd_login,
          "Check a token against the portal and save URL, token and workspace. The token may "
          "also come from KP_TOKEN or standard input (--token -).")  # fmt: skip
    p.add(root, "logout", commands.cmd_logout, "Remove the saved token.")

    workspace = p.group("workspace", "Your workspaces.")
    p.add(workspace, "list", commands.cmd_workspace_list, "List your workspaces.")
    use = p.add(workspace, "use", commands.cmd_workspace_use, "Choose the current workspace.")
    use.add_argument("slug", metavar="SLUG")

    job = p.group("job", "Submit, list, follow and cancel jobs.")
    create = p.add(job, "create", commands.cmd_job_create,
                   "Submit a job YAML file; a local `code` folder is uploaded first.")  # fmt: skip
    create.add_argument("-f", "--file", required=True, help="the job YAML file")
    _add_set(create)
    create.add_argument("--stream", action="store_true",
                        help="follow status and logs until the job ends")  # fmt: skip
    listing = p.add(job, "list", commands.cmd_job_list, "List jobs, newest first.")
    listing.add_argument("--status", help="e.g. Running, Failed")
    listing.add_argument("--experiment", help="experiment name")
    listing.add_argument("--compute", help="compute target name")
    listing.add_argument("--tag", action="append", metavar="KEY=VALUE", help="repeatable")
    listing.add_argument("--search", metavar="TEXT", help="text in name or display name")
    listing.add_argument("--user", metavar="USERNAME", help="jobs created by USERNAME")
    listing.add_argument("--limit", type=int, default=50, help="at most N jobs (default 50)")
    for name, handler, text in (
        ("show", commands.cmd_job_show, "Show a job, its transitions and instances."),
        ("cancel", commands.cmd_job_cancel, "Cancel a job."),
    ):
        p.add(job, name, handler, text).add_argument("name", metavar="NAME")
    clone = p.add(job, "clone", commands.cmd_job_clone, "Re-run a job, with overrides.")
    clone.add_argument("name", metavar="NAME")
    _add_set(clone)
    clone.add_argument("--stream", action="store_true",
                       help="follow status and logs until the new job ends")  # fmt: skip
    metrics = p.add(job, "metrics", runs.cmd_job_metrics, "Print a job's metrics.")
    metrics.add_argument("name", metavar="NAME")
    metrics.add_argument("--key", metavar="K", help="print this metric's whole history")
    download = p.add(job, "download", runs.cmd_job_download, "Download a job's outputs.")
    download.add_argument("name", metavar="NAME")
    download.add_argument("--path", metavar="P", help="only this folder or file of the outputs")
    download.add_argument("--download-path", metavar="DIR", help="where to (default: here)")
    logs = p.add(job, "logs", commands.cmd_job_logs, "Print a job's log.")
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("--instance", type=int, default=0, help="instance index (default 0)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until the end")

    compute = p.group("compute", "Compute targets.")
    p.add(compute, "list", commands.cmd_compute_list, "List the workspace's compute targets.")

    itype = p.group("instance-type", "Instance types.")
    itype_list = p.add(itype, "list", commands.cmd_instance_type_list, "List instance types.")
    itype_list.add_argument("--compute", metavar="NAME", help="only those of this compute target")

    env = p.group("environment", "Registered environments (container images).")
    env_create = p.add(env, "create", commands.cmd_environment_create,
                       "Register an environment from flags or -f FILE (flags win).")  # fmt: skip
    env_create.add_argument("-f", "--file", help="YAML with name, version, image, description")
    env_create.add_argument("--name")
    env_create.add_argument("--version")
    env_create.add_argument("--image")
    env_create.add_argument("--description")
    p.add(env, "list", commands.cmd_environment_list, "List registered environments.")
    models.add_parsers(p)
    return parser


def _report(lines: Sequence[str]) -> None:
    for line in lines:
        if line:
            print(f"kp: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs kp with ``argv`` (default: the process arguments); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler | None = args.handler
    if handler is None:
        args.group_parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(Context(args))
    except CliError as exc:
        _report(exc.lines)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `kp job list | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - a bug must still not print a traceback
        if os.environ.get("KP_DEBUG"):
            raise
        print(f"kp: internal error: {exc.__class__.__name__}: {exc} (KP_DEBUG=1 shows details)",
              file=sys.stderr)  # fmt: skip
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
