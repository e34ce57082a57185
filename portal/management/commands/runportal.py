"""Serves the portal over ASGI (HTTP and websockets) in one process tree.

In the embedded mode it first starts the kubesim sandbox cluster as a child
process and attaches it; Ctrl-C stops the server, the in-process background
pieces and the sandbox.
"""

import ctypes
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

# The largest websocket frame the server reads (a page sends small JSON subscriptions);
# larger ones close the socket before they reach the consumer. Production: --ws-max-size.
WS_MAX_FRAME = 65536


class Command(BaseCommand):
    help = "Runs the portal (ASGI) and, in the embedded mode, the kubesim sandbox cluster."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-sandbox", action="store_true", help="Do not start kubesim.")

    def handle(self, *args, host, port, no_sandbox, **options):
        sandbox = None
        if settings.SANDBOX_ENABLED and not no_sandbox:
            sandbox = self.start_sandbox()
        try:
            self.stdout.write(f"\nPortal: http://{host}:{port}/  (Ctrl-C stops everything)\n")
            uvicorn.run(
                "portal.asgi:application",
                host=host,
                port=port,
                lifespan="on",
                log_level="info",
                ws="websockets-sansio",
                ws_per_message_deflate=settings.WS_DEFLATE,
                ws_max_size=WS_MAX_FRAME,
            )
        finally:
            if sandbox is not None:
                sandbox.send_signal(signal.SIGTERM)
                try:
                    sandbox.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    sandbox.kill()

    def start_sandbox(self) -> subprocess.Popen:
        kubeconfig = settings.DATA_DIR / "sandbox.kubeconfig"
        port = settings.SANDBOX_PORT
        # TLS, because kubectl sends a bearer token only over HTTPS.
        command = [
            sys.executable,
            "-m",
            "kubesim",
            "--port",
            str(port),
            "--kubeconfig",
            str(kubeconfig),
            "--tls",
        ]
        if settings.SANDBOX_NODES:
            command += ["--nodes", settings.SANDBOX_NODES]
        command += sandbox_runtime_args(
            settings.SANDBOX_RUNTIME, settings.DATA_DIR, Path(settings.BASE_DIR)
        )
        if kubeconfig.exists():
            kubeconfig.unlink()
        self.stdout.write(f"Starting the kubesim sandbox cluster on port {port} …")
        process = subprocess.Popen(command, start_new_session=False, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 30
        while not kubeconfig.exists() or not _answers(f"https://127.0.0.1:{port}/healthz"):
            if process.poll() is not None:
                raise CommandError(
                    f"kubesim exited with code {process.returncode}; is port {port} free?"
                )
            if time.monotonic() > deadline:
                process.kill()
                raise CommandError("kubesim did not start within 30 seconds")
            time.sleep(0.2)
        call_command("attach_sandbox", path=str(kubeconfig))
        call_command("seed_demo_jobs")
        self.stdout.write(
            f"Sandbox cluster ready; kubectl: KUBECONFIG={kubeconfig} kubectl get nodes"
        )
        return process


def sandbox_runtime_args(runtime: str, data_dir: Path, base_dir: Path) -> list[str]:
    """Returns kubesim's runtime options: local unless PORTAL_SANDBOX_RUNTIME=simulate, with
    the sandbox interpreter (.venv-sandbox from `make deps`), pod volumes under the data
    folder and the rest of that folder (database, keys) hidden from every container."""
    if runtime == "simulate":
        return ["--runtime", "simulate"]
    python = base_dir / ".venv-sandbox" / "bin" / "python"
    extra = ["--runtime-python", str(python)] if python.exists() else []
    return [
        *extra,
        "--runtime",
        "local",
        "--runtime-root",
        str(data_dir / "sandbox-runtime"),
        "--runtime-hide",
        str(data_dir),
    ]


def _die_with_parent() -> None:
    """Runs in the sandbox child: the kernel stops it when the portal process dies, even by
    a signal that skips Python's clean-up (uvicorn re-raises SIGTERM after shutting down)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: Ctrl-C still reaches the whole process group


def _answers(url: str) -> bool:
    # Only a liveness probe of our own child process; the portal itself verifies the CA.
    context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(url, timeout=1, context=context):
            return True
    except urllib.error.HTTPError:
        return True  # it answered (401 without a token still means it is up)
    except OSError:
        return False
