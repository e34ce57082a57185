"""Following a job: status changes and log lines as they happen, until the job ends."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from cli.client import ApiError, PortalClient, UnreachableError

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Canceled"})
POLL_INTERVAL = 1.0  # seconds between polls
MAX_CONSECUTIVE_FAILURES = 10  # unreachable polls tolerated before giving up


def is_terminal(job: dict) -> bool:
    """Whether the job has ended."""
    return job.get("status") in TERMINAL_STATUSES


def status_line(status: str, reason: str | None) -> str:
    """``==> Status: reason``."""
    return f"==> {status}" + (f": {reason}" if reason else "")


class JobFollower:
    """Polls one job and prints what is new: transitions to ``status_out``, logs to ``log_out``."""

    def __init__(
        self,
        client: PortalClient,
        workspace: str,
        name: str,
        *,
        instance: int = 0,
        show_status: bool = True,
        status_out: TextIO | None = None,
        log_out: TextIO | None = None,
    ):
        self.client = client
        self.workspace = workspace
        self.name = name
        self.instance = instance
        self.show_status = show_status
        self.status_out = status_out or sys.stdout
        self.log_out = log_out or sys.stdout
        self.next_line = 0
        self.transitions_seen = 0
        self.last_status: str | None = None

    def run(self) -> dict:
        """Follows until the job is terminal; returns the final job."""
        failures = 0
        while True:
            try:
                job = self.client.job(self.workspace, self.name)
                if is_terminal(job):  # the last lines were written before the job ended
                    self._print_logs()
                    self._print_status(job)
                else:
                    self._print_status(job)
                    self._print_logs()
                failures = 0
            except UnreachableError:
                failures += 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    raise
                time.sleep(POLL_INTERVAL)
                continue
            if is_terminal(job):
                return job
            time.sleep(POLL_INTERVAL)

    def _print_status(self, job: dict) -> None:
        if not self.show_status:
            return
        transitions = job.get("transitions")
        if isinstance(transitions, list):
            for transition in transitions[self.transitions_seen :]:
                if isinstance(transition, dict) and transition.get("to"):
                    self._emit_status(str(transition["to"]), transition.get("reason"))
            self.transitions_seen = len(transitions)
        status = job.get("status")
        if status and status != self.last_status:
            self._emit_status(str(status), job.get("status_reason"))

    def _emit_status(self, status: str, reason: str | None) -> None:
        if status == self.last_status and not reason:
            return
        print(status_line(status, reason), file=self.status_out, flush=True)
        self.last_status = status

    def _print_logs(self) -> None:
        try:
            text, next_line = self.client.job_logs(
                self.workspace, self.name, instance=self.instance, since_line=self.next_line
            )
        except ApiError as exc:
            if exc.status in (400, 404, 409):  # no pod yet, or its logs are gone
                return
            raise
        if text:
            self.log_out.write(text if text.endswith("\n") else text + "\n")
            self.log_out.flush()
        if next_line is not None:
            self.next_line = max(self.next_line, next_line)
        elif text:
            self.next_line += len(text.splitlines())
