"""Host-side plumbing for spawning a sandbox: sealed memfds, capped pipe reads, the pre-exec hook.

Private to the bwrap backend; nothing here knows about runtimes or results.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import resource
from collections.abc import Callable, Sequence


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


def child_setup(
    procs_files: Sequence[str], rlimits: Sequence[tuple[int, int]], user: int | None
) -> Callable[[], None]:
    """Runs in the forked child before exec: join the run's cgroups, lower the rlimits, and (when
    `user` is given) drop to that host uid/gid with no supplementary groups.

    Dropping matters: bwrap started as root maps the sandbox's uid to host root, whose processes
    pass the owner checks of /proc/sys (kernel.core_pattern!) without any capability. Started as
    an unprivileged host user, bwrap maps the sandbox's uid to that user instead.
    """

    def setup() -> None:
        pid = str(os.getpid()).encode()
        for path in procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        for which, value in rlimits:
            resource.setrlimit(which, (value, value))
        if user is not None:
            os.setgroups([])
            os.setresgid(user, user, user)
            os.setresuid(user, user, user)

    return setup


async def read_capped(fd: int, cap: int) -> bytes | None:
    """Everything from pipe `fd` until EOF, or None once more than `cap` bytes arrived."""
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
        return bytes(data)
    finally:
        transport.close()


SETUP_FAILED = "bwrap failed to set up the sandbox"


def bwrap_failure(status: bytes | None) -> str | None:
    """Why bwrap failed before or while starting the command, or None when the command ran."""
    docs = []
    for line in (status or b"").splitlines():
        with contextlib.suppress(ValueError):
            doc = json.loads(line)
            if isinstance(doc, dict):
                docs.append(doc)
    if not any("child-pid" in doc for doc in docs):
        return SETUP_FAILED
    if not any("exit-code" in doc for doc in docs):
        return "bwrap could not start the command"
    return None
