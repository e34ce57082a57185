"""Command line: ``python -m kubesim --port P --kubeconfig PATH [...]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

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
    p.add_argument("--log-level", default="INFO")
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
