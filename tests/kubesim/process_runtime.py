"""A pod runtime for tests: exec runs local processes (a pseudo-terminal with ``tty``) and
port-forward connects to 127.0.0.1, which is what pods of the local runtime answer on."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import struct
import termios

LABEL = "kubesim.test/runtime"


class _TtyProcess:
    """A process on a pseudo-terminal, shaped like ``asyncio.subprocess.Process``."""

    def __init__(self, proc, master: int, reader, writer) -> None:
        self.proc, self.master = proc, master
        self.stdin, self.stdout, self.stderr = writer, reader, None

    async def wait(self) -> int:
        return await self.proc.wait()


class ProcessRuntime:
    """Owns pods labelled ``kubesim.test/runtime: process``; records terminal resizes."""

    def __init__(self) -> None:
        self.resizes: list[tuple[int, int]] = []

    def owns(self, pod: dict) -> bool:
        return (pod["metadata"].get("labels") or {}).get(LABEL) == "process"

    async def exec(self, pod: dict, container: str, command: list[str], *, stdin: bool, tty: bool):
        if tty:
            return await self._exec_tty(command)
        return await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def _exec_tty(self, command: list[str]) -> _TtyProcess:
        master, child = pty.openpty()
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=child, stdout=child, stderr=child, start_new_session=True
        )
        os.close(child)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(
            lambda: _PtyReader(reader), os.fdopen(os.dup(master), "rb", buffering=0)
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(os.dup(master), "wb", buffering=0)
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        return _TtyProcess(proc, master, reader, writer)

    def resize(self, process, width: int, height: int) -> None:
        self.resizes.append((width, height))
        size = struct.pack("HHHH", height, width, 0, 0)
        fcntl.ioctl(process.master, termios.TIOCSWINSZ, size)

    async def connect(self, pod: dict, port: int):
        return await asyncio.open_connection("127.0.0.1", port)


class _PtyReader(asyncio.StreamReaderProtocol):
    """Reads a pty master; the EIO it raises once the child side closes is its end."""

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(None if isinstance(exc, OSError) else exc)
