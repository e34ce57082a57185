"""Real Celery workers (prefork) for the production-mode tests: separate process groups
started like the README's worker, against the test database and Redis."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent
PRODUCTION = bool(getattr(settings, "PRODUCTION", False) and settings.REDIS_URL)


def test_database_url() -> str:
    """``DATABASE_URL`` pointed at the database this test runs against."""
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


class Worker:
    """``celery -A portal worker -P prefork`` consuming only ``queue``, its output in
    ``log_path``; ``env`` adds to the environment it inherits."""

    def __init__(self, queue: str, log_path: Path, *, concurrency: int = 2, env=None) -> None:
        self.queue, self.log_path, self.concurrency = queue, log_path, concurrency
        self.env = {**os.environ, "DATABASE_URL": test_database_url(), **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Worker":
        command = [
            sys.executable, "-m", "celery", "-A", "portal", "worker",
            "-P", "prefork", "-c", str(self.concurrency), "-Q", self.queue,
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO", "-n", f"{self.queue}-{time.monotonic_ns()}@%h",
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as one
        )
        log.close()
        deadline = time.monotonic() + 60
        while "ready." not in self.log() or len(self.children()) < self.concurrency:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def children(self) -> list[int]:
        """The pool processes' ids."""
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def kill_group(self) -> None:
        """SIGKILL to the main process and its pool processes at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
