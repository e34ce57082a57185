"""Commands on a pseudo-terminal, for ``exec -t``: the shape of ``asyncio.subprocess.Process``.

A terminal merges stdout and stderr, so `TerminalProcess.stderr` is None; the API server
reads `stdout` until the terminal closes (the kernel reports EIO once the command and
everything it started have let go of the terminal, which is its end of file).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import struct
import termios
from collections.abc import Mapping, Sequence


class _TerminalReader(asyncio.StreamReaderProtocol):
    """Reads the terminal's master side; the EIO once the other side closes is its end."""

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(None if isinstance(exc, OSError) else exc)


class TerminalProcess:
    """A command whose stdin, stdout and stderr are one pseudo-terminal."""

    stderr = None

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        master: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.proc = proc
        self.master = master
        self.stdin: asyncio.StreamWriter | None = writer
        self.stdout: asyncio.StreamReader | None = reader

    @property
    def returncode(self) -> int | None:
        """Return the exit code, or None while the command runs."""
        return self.proc.returncode

    async def wait(self) -> int:
        """Wait for the command to end; return its exit code (the terminal is closed then)."""
        code = await self.proc.wait()
        self._close()
        return code

    def resize(self, width: int, height: int) -> None:
        """Set the terminal's size in columns and rows (ignored once it is closed)."""
        if self.master < 0 or width <= 0 or height <= 0:
            return
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def kill(self) -> None:
        """SIGKILL the command (if it still runs)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def _close(self) -> None:
        if self.master >= 0:
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = -1


async def spawn(argv: Sequence[str], env: Mapping[str, str]) -> TerminalProcess:
    """Start `argv` in a new session on a new pseudo-terminal; return it running.

    Raises OSError when the command cannot be started."""
    master, child = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=child, stdout=child, stderr=child, env=dict(env), start_new_session=True
        )
    except OSError:
        os.close(master)
        raise
    finally:
        os.close(child)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: _TerminalReader(reader), os.fdopen(os.dup(master), "rb", buffering=0)
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(os.dup(master), "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return TerminalProcess(proc, master, reader, writer)
