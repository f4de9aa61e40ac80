"""Host-side plumbing for spawning a sandbox: sealed memfds, the gate, bwrap's status.

Private to the bwrap backend; nothing here knows about runtimes or results.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
from collections.abc import Callable


def sealed_memfd(name: str, data: bytes) -> int:
    """A read-only fd on an immutable in-memory file holding `data` (caller closes it)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(fd)


class Gate:
    """Holds bwrap (`--block-fd`) after its set-up, before it starts the command, until opened.

    The fd bwrap blocks on is the pipe's read end reopened read-write: it is a writer itself, so
    its read never sees end-of-file. If the executor dies before opening the gate, bwrap waits
    forever instead of running the code outside the run's cgroup.
    """

    def __init__(self) -> None:
        r, self._w = os.pipe2(os.O_CLOEXEC)
        try:
            self.fd: int | None = os.open(f"/proc/self/fd/{r}", os.O_RDWR | os.O_CLOEXEC)
        finally:
            os.close(r)

    def handed_over(self) -> None:
        """bwrap has its copy of the blocking fd: drop ours."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def open(self) -> None:
        """Let bwrap go on (it reads one byte)."""
        os.write(self._w, b"1")

    def close(self) -> None:
        """Drop what is left of our ends."""
        self.handed_over()
        os.close(self._w)


class StatusReader:
    """Reads bwrap's --json-status-fd to the end, telling the child's pid as soon as it comes."""

    def __init__(self, fd: int, cap: int) -> None:
        self._fd = fd
        self._cap = cap
        self.child_pid: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    def _seen(self, data: bytes) -> None:
        if self.child_pid.done():
            return
        for doc in _json_lines(data):
            pid = doc.get("child-pid")
            if isinstance(pid, int) and pid > 0:
                self.child_pid.set_result(pid)
                return

    async def read(self) -> bytes | None:
        """Everything bwrap wrote (None past `cap` bytes); child_pid is None if it never came."""
        try:
            return await read_capped(self._fd, self._cap, self._seen)
        finally:
            if not self.child_pid.done():
                self.child_pid.set_result(None)


def _json_lines(data: bytes) -> list[dict[str, object]]:
    docs = []
    for line in data.splitlines():
        with contextlib.suppress(ValueError):
            doc = json.loads(line)
            if isinstance(doc, dict):
                docs.append(doc)
    return docs


async def read_capped(
    fd: int, cap: int, on_data: Callable[[bytes], None] | None = None
) -> bytes | None:
    """Everything from pipe `fd` until EOF, or None once more than `cap` bytes arrived.

    `on_data` sees everything read so far after each chunk."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**16)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    data = bytearray()
    try:
        while chunk := await reader.read(2**16):
            if len(data) + len(chunk) > cap:
                return None
            data += chunk
            if on_data is not None:
                on_data(bytes(data))
        return bytes(data)
    finally:
        transport.close()


SETUP_FAILED = "bwrap failed to set up the sandbox"


def bwrap_failure(status: bytes | None) -> str | None:
    """Why bwrap failed before or while starting the command, or None when the command ran."""
    docs = _json_lines(status or b"")
    if not any("child-pid" in doc for doc in docs):
        return SETUP_FAILED
    if not any("exit-code" in doc for doc in docs):
        return "bwrap could not start the command"
    return None
