"""Leasing the host uids of a UidRange to runs: one run per uid, never while a process of it lives.

    pool = UidPool(uids)
    uid = await pool.lease()        # the current task's uid: the same for every step it runs

A lease belongs to the asyncio task that took it. The consumer runs each job in a task of its
own, so a job keeps one uid through its compile step and all its test cases, and the uid goes
back when that task ends; by then every sandbox of the job is gone (each step kills and removes
its cgroup before it returns). Before a uid is leased again /proc is scanned, and a uid that some
process still runs as (one that left its cgroup, or another executor's sandbox) is skipped.

Across processes, a lease is also an open-file-description lock on the uid's byte of a lock file
in /run that every executor on the host opens, so executors whose ranges overlap take turns
rather than share a uid. Each pool also holds a shared lock over its whole range, which is how
a newcomer learns that its range overlaps another executor's (`overlap`): safe, but each then
gets fewer uids than it has slots.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import struct
import time
from pathlib import Path
from typing import Any

from voidrunner.executor.sandbox.types import SandboxError
from voidrunner.executor.sandbox.uid_range import MAX_UID, UidRange

__all__ = ["LOCK_PATH", "UidPool", "processes_of"]

LOCK_PATH = Path("/run/voidrunner/sandbox-uids.lock")
# Range claims live in the lock file above every possible lease offset (a lease: offset = uid).
_CLAIMS = MAX_UID + 1
WAIT_SECONDS = 30.0
_POLL_SECONDS = 0.02
# struct flock on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks).
_FLOCK = "hhqqi4x"

Task = asyncio.Task[Any]
# uid → the task holding it, over every pool of this process (their ranges may overlap).
_LEASED: dict[int, Task] = {}


def processes_of(uids: UidRange, proc: Path = Path("/proc")) -> dict[int, list[int]]:
    """Live host pids by the uid of `uids` they run as (effective uid or gid).

    /proc/<pid> belongs to the process's effective uid and gid even when it made itself
    non-dumpable (its files then belong to root), so a stat per process finds them. Zombies do
    not count: they run nothing, and bwrap leaves one of every sandbox (its pid-1 init, which its
    monitor does not wait for) to the host's init, which may reap it only seconds later."""
    found: dict[int, list[int]] = {}
    with os.scandir(proc) as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                info = entry.stat()
            except OSError:  # gone meanwhile
                continue
            ids = {i for i in (info.st_uid, info.st_gid) if i in uids}
            if ids and _alive(proc / entry.name / "stat"):
                for ident in ids:
                    found.setdefault(ident, []).append(int(entry.name))
    return found


def _alive(stat: Path) -> bool:
    try:
        state = stat.read_bytes().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X", b"x")


class _HostLocks:
    """OFD byte-range locks on one file, shared by every executor of this host.

    OFD locks (unlike POSIX ones) belong to the open file, so this process never loses them by
    closing another descriptor of the file, and its own locks never conflict with each other."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise SandboxError(f"cannot open the sandbox uid lock file {path}: {exc}") from exc
        self.path = path

    def _call(self, command: int, kind: int, start: int, length: int) -> bytes:
        request = struct.pack(_FLOCK, kind, os.SEEK_SET, start, length, 0)
        return fcntl.fcntl(self._fd, command, request)

    def take(self, start: int, length: int, *, shared: bool = False) -> bool:
        """Lock ids `start`..: False when another process holds a conflicting lock."""
        kind = fcntl.F_RDLCK if shared else fcntl.F_WRLCK
        try:
            self._call(fcntl.F_OFD_SETLK, kind, start, length)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def release(self, start: int, length: int) -> None:
        self._call(fcntl.F_OFD_SETLK, fcntl.F_UNLCK, start, length)

    def conflict(self, start: int, length: int) -> tuple[int, int] | None:
        """The first span (start, length) another process holds within `start`.., if any."""
        answer = self._call(fcntl.F_OFD_GETLK, fcntl.F_WRLCK, start, length)
        kind, _, found, size, _ = struct.unpack(_FLOCK, answer)
        return None if kind == fcntl.F_UNLCK else (found, size)


_LOCKS: dict[Path, _HostLocks] = {}


def _host_locks(path: Path) -> _HostLocks:
    """One open lock file per path in this process: every pool shares it."""
    if path not in _LOCKS:
        _LOCKS[path] = _HostLocks(path)
    return _LOCKS[path]


class UidPool:
    """Leases the uids of `uids` to tasks (see the module docstring)."""

    def __init__(
        self,
        uids: UidRange,
        *,
        lock_path: Path = LOCK_PATH,
        wait_seconds: float = WAIT_SECONDS,
        proc: Path = Path("/proc"),
    ) -> None:
        """Claims the range on this host; `overlap` names another executor's claim within it."""
        self.uids = uids
        self._wait = wait_seconds
        self._proc = proc
        self._locks = _host_locks(lock_path)
        self._held: dict[Task, int] = {}
        self.overlap: UidRange | None = None
        found = self._locks.conflict(_CLAIMS + uids.base, uids.count)
        if found is not None:  # the other claim, whole: keep what lies in ours
            start = max(uids.base, found[0] - _CLAIMS)
            end = uids.last if found[1] == 0 else min(uids.last, found[0] - _CLAIMS + found[1] - 1)
            self.overlap = UidRange(start, end - start + 1)
        self._locks.take(_CLAIMS + uids.base, uids.count, shared=True)
        self.strays = processes_of(uids, proc)

    @property
    def leased(self) -> dict[int, Task]:
        """uid → the task holding it, for this pool's range."""
        return {uid: task for uid, task in _LEASED.items() if uid in self.uids}

    async def lease(self) -> int:
        """The current task's uid, leased now if it holds none yet.

        Waits while every uid is leased or still has processes; raises a retryable SandboxError
        after `wait_seconds`."""
        task = asyncio.current_task()
        if task is None:
            raise SandboxError("a sandbox uid is leased from inside an asyncio task")
        held = self._held.get(task)
        if held is not None:
            return held
        deadline = time.monotonic() + self._wait
        while True:
            self._reclaim()
            busy = processes_of(self.uids, self._proc)
            for uid in self.uids:
                if uid in _LEASED or uid in busy or not self._locks.take(uid, 1):
                    continue
                _LEASED[uid] = task
                self._held[task] = uid
                task.add_done_callback(self._release)
                return uid
            if time.monotonic() >= deadline:
                raise SandboxError(self._exhausted(busy), retryable=True)
            await asyncio.sleep(_POLL_SECONDS)

    def _release(self, task: Task) -> None:
        uid = self._held.pop(task, None)
        if uid is None:
            return
        _LEASED.pop(uid, None)
        self._locks.release(uid, 1)

    def _reclaim(self) -> None:
        """Give back the leases of tasks that ended without running their callbacks (their
        event loop closed first)."""
        for task in [t for t in self._held if t.done()]:
            self._release(task)

    def _exhausted(self, busy: dict[int, list[int]]) -> str:
        mine = [uid for uid in self.uids if uid in _LEASED]
        running = {uid: pids for uid, pids in sorted(busy.items()) if uid not in _LEASED}
        others = self.uids.count - len(mine) - len(running)
        parts = [f"{len(mine)} leased by runs of this process"]
        if running:
            shown = ", ".join(f"{uid}: pids {pids[:5]}" for uid, pids in list(running.items())[:5])
            parts.append(f"{len(running)} still in use by processes ({shown})")
        if others > 0:
            parts.append(f"{others} leased by another executor (lock file {self._locks.path})")
        return f"no free sandbox uid in {self.uids} after {self._wait:g} s: {'; '.join(parts)}"
