"""Warm starts for the bwrap backend: sandboxes started ahead of demand, each used by one run.

    starts = WarmStarts(size, spawn)     # spawn(key) starts one sandbox (BwrapSandbox does)
    starts.watch(key)                    # keep `size` ready for this runtime and tmp size
    warm = starts.take(key)              # a ready sandbox, now the caller's; None when none is
    warm.send(warm_message(...))         # the run: the loader starts the program
    warm.release()                       # after the run: its keeper removes what is left
    await starts.close()                 # stop refilling, end every idle sandbox

Only what no run setting changes is prepared ahead: the sandbox itself (namespaces, the read-only
root, a fresh tmpfs of the key's size, seccomp, its own host uid and cgroup, vr-launch) and the
interpreter, started and waiting in its loader (warm_python.py) for the run on a pipe. The run's
settings arrive when it is claimed: its limits go into the cgroup (memory, pids, CPU quota) and into
the rlimits the loader lowers before the program starts; its files, environment, arguments and
stdin travel over the pipe. A sandbox is never reused: the run ends it as a cold run ends, and the
pool starts another. Each sandbox has a keeper task of its own, which holds its uid lease (leases
belong to tasks) and removes its cgroup once the run, or the pool, releases it.

What moves off the run's critical path is the sandbox's and the interpreter's start (bwrap, prlimit,
setpriv, the gate, vr-launch, Python's initialisation: about 15 ms of a 19 ms hello-world here); the
CPU they cost is the same, spent ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import marshal
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

from voidrunner.executor.sandbox.cgroups import RunCgroup
from voidrunner.executor.sandbox.types import SandboxError
from voidrunner.executor.sandbox.warm_pool import WarmPool

__all__ = ["LOADERS", "WarmKey", "WarmSandbox", "WarmStarts", "warm_message", "widen_pipe"]

_log = logging.getLogger(__name__)

# A runtime's name and its tmpfs size: the only run settings fixed when a sandbox starts.
WarmKey = tuple[str, int]
# The loader each kind of warm start runs (RuntimeSpec.warm_start).
LOADERS: Mapping[str, str] = {
    "python": resources.files(__package__).joinpath("warm_python.py").read_text("utf-8"),
}
# The control pipe is widened to this (the unprivileged maximum by default), so a run's message
# is written in one go; a larger run starts cold.
PIPE_BYTES = 1 << 20
# marshal's version 2 has no references: the format every Python 3 (PyPy included) reads.
_MARSHAL_VERSION = 2


def widen_pipe(fd: int) -> int:
    """Grow pipe `fd` towards PIPE_BYTES; returns how many bytes it now holds."""
    try:
        return int(fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES))
    except OSError:
        return int(fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ))


def warm_message(
    files: Sequence[tuple[str, bytes]],
    env: Mapping[str, str],
    argv: Sequence[str],
    rlimits: Mapping[str, int],
    stdin: bytes,
) -> bytes:
    """A run as the loader reads it: its work files (0644), environment, argv (the entry file
    first), rlimits (by name: "nofile" for RLIMIT_NOFILE) and stdin."""
    return marshal.dumps(
        (
            [(path, data, 0o644) for path, data in files],
            dict(env),
            list(argv),
            [(name.upper(), value) for name, value in rlimits.items()],
            stdin,
        ),
        _MARSHAL_VERSION,
    )


@dataclass(eq=False)
class WarmSandbox:
    """A started sandbox waiting for its run: its process, cgroup, readers and control pipe."""

    proc: asyncio.subprocess.Process
    exited: asyncio.Task[int]
    group: RunCgroup
    # bwrap's status and vr-launch's report, as a cold step reads them.
    readers: list[asyncio.Task[bytes | None]]
    control: int
    capacity: int
    released: asyncio.Event = field(default_factory=asyncio.Event)
    keeper: asyncio.Task[None] | None = None

    def alive(self) -> bool:
        """Still waiting (it may die idle: killed from outside, or the host ran out of memory)."""
        return self.proc.returncode is None and not self.exited.done()

    def fits(self, message: bytes) -> bool:
        return len(message) <= self.capacity

    def send(self, message: bytes) -> None:
        """Hand the run over and close the pipe; OSError when the sandbox is gone."""
        if self.control < 0:
            raise SandboxError("this warm sandbox was already claimed")
        fd, self.control = self.control, -1
        try:
            os.set_blocking(fd, False)
            view = memoryview(message)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def close_control(self) -> None:
        if self.control >= 0:
            fd, self.control = self.control, -1
            os.close(fd)

    def release(self) -> None:
        """The run (or the pool) is done with it: its keeper ends what is left and removes its
        cgroup, in the background (a run's processes are gone by then; only the empty group and
        the uid lease wait for the keeper)."""
        self.released.set()

    async def ended(self) -> None:
        """Wait until its keeper is done."""
        if self.keeper is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self.keeper)


class WarmStarts:
    """`size` started sandboxes per watched key; see the module docstring."""

    def __init__(self, size: int, spawn: Callable[[WarmKey], Awaitable[WarmSandbox]]) -> None:
        self._spawn = spawn
        self._sandboxes: dict[str, WarmSandbox] = {}
        self._keepers: set[asyncio.Task[None]] = set()
        self._pool: WarmPool[WarmKey] = WarmPool(
            size, self._make, self._discard, name_prefix="vr-bwrap-warm"
        )

    @property
    def size(self) -> int:
        return self._pool.size

    def watch(self, key: WarmKey) -> None:
        """Keep `size` sandboxes ready for `key` from now on."""
        self._pool.watch(key)

    def take(self, key: WarmKey) -> WarmSandbox | None:
        """A ready sandbox for `key`, handed over for one run; None when none is ready.

        Its replacement starts once it has ended (its keeper is done), not now: a sandbox's start
        (the interpreter's initialisation, the uid lease, the spawn) would otherwise compete for
        the CPU and the event loop with the run it was taken for, and so add to its latency."""
        while (name := self._pool.take(key, replace=False)) is not None:
            sandbox = self._sandboxes.pop(name)
            if sandbox.alive():
                return sandbox
            _log.warning("warm pool: a sandbox ended while it waited; starting another")
            self.end(sandbox)
        return None

    def held_groups(self) -> set[str]:
        """The cgroup directories of the sandboxes waiting in the pool."""
        return {str(p) for sandbox in self._sandboxes.values() for p in sandbox.group.paths}

    async def wait_ready(self, seconds: float) -> bool:
        """Wait until every watched key has `size` ready sandboxes (tests and benchmarks)."""
        return await self._pool.wait_all_ready(seconds)

    async def close(self, seconds: float = 30.0) -> None:
        """Stop refilling, end every idle sandbox, and wait (at most `seconds`) for the keepers
        of the ones runs took."""
        await self._pool.close()
        if self._keepers:
            await asyncio.wait(set(self._keepers), timeout=seconds)

    async def _make(self, key: WarmKey, name: str) -> str:
        sandbox = await self._spawn(key)
        if sandbox.keeper is not None:
            self._keepers.add(sandbox.keeper)
            sandbox.keeper.add_done_callback(self._keepers.discard)
            sandbox.keeper.add_done_callback(lambda _: self._pool.replenish(key))
        self._sandboxes[name] = sandbox
        return name

    async def _discard(self, name: str) -> None:
        sandbox = self._sandboxes.pop(name, None)
        if sandbox is not None:
            sandbox.release()
            await sandbox.ended()

    @staticmethod
    def end(sandbox: WarmSandbox) -> None:
        """End a sandbox taken from the pool but not used (its keeper does, in the background)."""
        sandbox.release()
