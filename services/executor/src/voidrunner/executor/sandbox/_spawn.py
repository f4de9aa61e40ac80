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


# Reads one line from the gate, closes it and becomes the command; without the line (end-of-file:
# the executor died before opening it) it ends without starting anything. `exec -c`: bash exports
# PWD and SHLVL even when started with no environment, and bwrap's init (pid 1 in the sandbox,
# whose /proc/1/environ the code reads) would show the executor's working directory.
_GATE_SCRIPT = 'read -r -u {fd} _ || exit 125; exec {fd}<&-; exec -c "$@"'


class Gate:
    """Holds a spawned command before it starts, until opened; never starts it if we die first.

    `command(argv)` puts `argv` behind bash, which waits for one line on the gate's pipe and then
    execs it. The spawner moves that process into the run's cgroup meanwhile, so bwrap and
    everything it starts are created inside the cgroup. If the executor dies before opening the
    gate, the pipe reads end-of-file and bash exits: nothing is left waiting and nothing runs
    outside the cgroup. (bwrap's own --block-fd would hold its sandbox init, which has no
    parent-death signal yet at that point, so it would be left behind instead.)
    """

    def __init__(self) -> None:
        fd, self._w = os.pipe2(os.O_CLOEXEC)
        self.fd: int | None = fd

    def command(self, bash: str, argv: list[str]) -> list[str]:
        """`argv` behind the gate (pass `fd` to the child)."""
        assert self.fd is not None
        return [bash, "-c", _GATE_SCRIPT.format(fd=self.fd), "voidrunner-gate", *argv]

    def handed_over(self) -> None:
        """The child has its copy of the read end: drop ours."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def open(self) -> None:
        """Let the command start."""
        os.write(self._w, b"1\n")

    def close(self) -> None:
        """Drop what is left of our ends."""
        self.handed_over()
        os.close(self._w)


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
