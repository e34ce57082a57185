"""Command line: ``python -m kubesim --port P --kubeconfig PATH [...]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from kubesim.runtime.imagemap import ImageMap
from kubesim.runtime.options import RuntimeOptions, RuntimeUnavailable, find_isolation
from kubesim.server import KubeSim, quiet_collector, serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Return the parsed command-line options."""
    p = argparse.ArgumentParser(prog="kubesim", description="Simulated Kubernetes API server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6443, help="0 picks a free port")
    p.add_argument("--kubeconfig", help="write a kubeconfig for this server here")
    p.add_argument("--nodes", help="node spec handed to the simulation controllers")
    p.add_argument("--speed", type=float, default=1.0, help="simulated time multiplier")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA")
    p.add_argument("--faults", help='e.g. "error_rate=0.1,error_code=500,latency_ms=50"')
    p.add_argument("--token", help="admin bearer token (random if omitted)")
    p.add_argument(
        "--kubeconfig-for",
        action="append",
        default=[],
        metavar="NS/SA=PATH",
        help="also write a kubeconfig for service account NS/SA at PATH (RBAC applies; "
        "the account is created with no permissions if missing); repeatable",
    )
    p.add_argument(
        "--no-kueue",
        dest="kueue",
        action="store_false",
        help="do not serve Kueue (its CRDs, controller and visibility API are on by default)",
    )
    p.add_argument("--log-level", default="INFO")
    p.add_argument(
        "--runtime",
        choices=("local", "simulate"),
        default="simulate",
        help="local: containers of mapped images run as processes on this machine",
    )
    p.add_argument(
        "--runtime-python",
        default="",
        help="interpreter that `python` means in local containers "
        "(default .venv-sandbox/bin/python when it exists, else this one)",
    )
    p.add_argument(
        "--runtime-images",
        default="",
        help="rules before the default image map, e.g. 'myorg/*=local,big/*=simulate'",
    )
    p.add_argument("--runtime-root", default="", help="folder for pod volumes and claims")
    p.add_argument(
        "--runtime-hide",
        action="append",
        default=[],
        help="host folder no container may see (repeatable)",
    )
    args = p.parse_args(argv)
    try:
        args.kubeconfig_for = [_service_account_target(v) for v in args.kubeconfig_for]
    except ValueError as exc:
        p.error(str(exc))
    return args


def _service_account_target(value: str) -> tuple[str, str, str]:
    """Return (namespace, name, path) from ``NS/SA=PATH``."""
    who, sep, path = value.partition("=")
    namespace, slash, name = who.partition("/")
    if not (sep and slash and namespace and name and path):
        raise ValueError(f"--kubeconfig-for wants NS/SA=PATH, got {value!r}")
    return namespace, name, path


def runtime_options(args: argparse.Namespace) -> RuntimeOptions:
    """Return the runtime options of the command line; local falls back to simulate, with
    a sentence on stderr, where no namespace can be made.  Raises ValueError for a bad
    image rule."""
    images = ImageMap.from_flag(args.runtime_images)
    hide = [*args.runtime_hide]
    if args.kubeconfig:
        hide.append(str(Path(args.kubeconfig).absolute()))
    hide.extend(str(Path(path).absolute()) for _ns, _sa, path in args.kubeconfig_for)
    options = RuntimeOptions(
        mode=args.runtime,
        python=args.runtime_python,
        images=images,
        root=args.runtime_root,
        hide=tuple(hide),
    )
    if options.local:
        try:
            options.isolation = find_isolation()
        except RuntimeUnavailable as exc:
            print(f"kubesim: {exc}; running every pod simulated instead", file=sys.stderr)
            options.mode = "simulate"
    return options


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGINT/SIGTERM; return the exit status."""
    args = parse_args(argv)
    quiet_collector()
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def ready(sim: KubeSim) -> None:
        where = f" (kubeconfig {sim.kubeconfig_path})" if sim.kubeconfig_path else ""
        print(f"kubesim listening on {sim.url}{where}", flush=True)

    try:
        runtime = runtime_options(args)
    except ValueError as exc:
        print(f"kubesim: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        task = asyncio.ensure_future(
            serve(
                host=args.host,
                port=args.port,
                nodes=args.nodes,
                speed=args.speed,
                tls=args.tls,
                kubeconfig=args.kubeconfig,
                faults=args.faults,
                token=args.token,
                kubeconfig_for=args.kubeconfig_for,
                ready=ready,
                runtime=runtime,
                kueue=args.kueue,
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(run())
    except ValueError as exc:  # bad --faults spec and the like
        print(f"kubesim: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
