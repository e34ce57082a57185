"""Exit codes and the exception that carries one to ``main``.

Every failure the user can cause or meet is raised as a :class:`CliError`; ``main`` prints its
lines to stderr and exits with its code, so no traceback ever reaches the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable

EXIT_OK = 0
EXIT_REFUSED = 1  # the portal refused the request (validation, conflict), or the job failed
EXIT_USAGE = 2  # bad arguments, or a local file problem (missing file, YAML syntax error)
EXIT_AUTH = 3  # not logged in, token refused (401) or action forbidden (403)
EXIT_NOT_FOUND = 4  # the portal answered 404
EXIT_UNREACHABLE = 5  # connection error, timeout or a 5xx answer
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

EXIT_CODES_HELP = """\
exit codes:
  0  success
  1  the portal refused the request (validation error, conflict); a streamed job that
     ended Failed or Canceled
  2  usage error, or a local file problem (missing file, YAML syntax error)
  3  not logged in, token invalid (HTTP 401) or action forbidden (HTTP 403)
  4  not found (HTTP 404)
  5  cannot reach the portal (connection error, timeout, HTTP 5xx)
  130  interrupted (Ctrl-C); a followed job keeps running
"""


class CliError(Exception):
    """A failure to report as one line per problem, ending the command with ``exit_code``."""

    def __init__(self, exit_code: int, lines: str | Iterable[str]):
        self.exit_code = exit_code
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("; ".join(self.lines))


class UsageError(CliError):
    """Bad arguments or an unusable local file: exit code 2."""

    def __init__(self, lines: str | Iterable[str]):
        super().__init__(EXIT_USAGE, lines)


class NotLoggedInError(CliError):
    """No portal URL or token is known: exit code 3."""

    def __init__(self, message: str):
        super().__init__(EXIT_AUTH, message)
