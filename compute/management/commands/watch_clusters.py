"""``manage.py watch_clusters``: watch every usable cluster this process holds the lease of.

Runs until SIGTERM or SIGINT, then stops its watchers and releases its leases, so another
replica takes the clusters over at once instead of after the lease expires.
"""

import signal
import threading

from django.core.management.base import BaseCommand

from compute.kube.watch import WatchSupervisor
from portal import gcpolicy, health, live


class Command(BaseCommand):
    help = "Watch the clusters (jobs, pods, events, nodes) and update the portal live."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--lease-seconds", type=float, default=15.0)
        parser.add_argument("--tick", type=float, default=3.0, help="seconds between passes")
        parser.add_argument(
            "--sender",
            choices=["process", "thread"],
            default="process",
            help="render and send live fragments from a child process (default) or a thread",
        )
        parser.add_argument(
            "--probe-port",
            type=int,
            default=None,
            help="serve /healthz, /readyz and /metrics on this port (default PORTAL_PROBE_PORT)",
        )

    def handle(
        self, *args, lease_seconds: float, tick: float, sender: str, probe_port, **options
    ) -> None:
        if sender == "process":
            live.use_sender_process()
        stop = threading.Event()

        def on_signal(signum, frame) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        gcpolicy.install()
        supervisor = WatchSupervisor(lease_seconds=lease_seconds, tick=tick).start()
        # Ready while the lease loop keeps passing (holding no cluster is fine: a standby).
        health.add_check("watch leases", supervisor.passing)
        health.serve_probes(probe_port)
        self.stdout.write(f"watching clusters as {supervisor.holder}")
        while not stop.wait(1.0):
            pass
        self.stdout.write("stopping watchers")
        supervisor.stop()
        self.stdout.write("stopped")
