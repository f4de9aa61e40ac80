"""Per-run cgroups (v1 and v2): limits, accounting, kill-all and removal.

    driver = CgroupDriver.detect()            # None when this host offers no usable cgroups
    group = driver.create("run-abc123", limits)
    group.join([pid])                         # blocking: off the loop (see bwrap.py)
    stats = group.stats()                     # peak memory, CPU time, whether the OOM killer fired
    await group.kill_all(); await group.remove()

Per-run groups live in `<own cgroup>/voidrunner/<name>` for every controller, where `<own cgroup>`
comes from /proc/self/cgroup, so the executor's own limits still bound everything it starts.
v1 (hybrid here): memory (+memsw), pids, cpu (CFS quota), cpuacct. v2: memory.max, memory.swap.max,
pids.max, cpu.max; the executor's own cgroup must delegate memory/pids/cpu (if it holds processes,
the executor moves itself into a `executor` leaf first, as the "no internal processes" rule asks).
Paths and the rmdir call are injectable so the file logic is unit-tested against a temp dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import os
import signal
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from voidrunner.executor.sandbox.types import Limits, SandboxError

__all__ = ["CgroupDriver", "CgroupStats", "CgroupVersion", "RunCgroup"]

_V1_REQUIRED = ("memory", "pids")
_V1_OPTIONAL = ("cpu", "cpuacct")
_V2_CONTROLLERS = ("memory", "pids", "cpu")
_CFS_PERIOD_US = 100_000


class CgroupVersion(enum.IntEnum):
    V1 = 1
    V2 = 2


@dataclass(frozen=True, slots=True)
class CgroupStats:
    peak_memory_bytes: int | None
    cpu_time_ns: int | None
    oom_killed: bool
    # A fork or clone failed because the group reached pids.max.
    pids_limited: bool = False


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text.split()[0]) if text else None
    except ValueError:
        return None


def _keyed(path: Path, key: str) -> int | None:
    """The value of `key` in a "key value" per line file (memory.oom_control, cpu.stat, ...)."""
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return None


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def parse_self_cgroup(text: str) -> dict[str, str]:
    """Controller → own path from /proc/self/cgroup; the v2 entry is under the key ""."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller.removeprefix("name=")] = path
    return paths


class RunCgroup:
    """One run's cgroup: one directory per controller hierarchy (v1) or a single one (v2)."""

    def __init__(
        self,
        version: CgroupVersion,
        dirs: Mapping[str, Path],
        *,
        rmdir: Callable[[Path], None] = os.rmdir,
    ) -> None:
        self.version = version
        self._dirs = dict(dirs)
        self._rmdir = rmdir

    @property
    def dirs(self) -> Mapping[str, Path]:
        """The group's directory per controller."""
        return self._dirs

    @property
    def paths(self) -> list[Path]:
        """Every distinct directory of this group."""
        return sorted(set(self._dirs.values()))

    @property
    def procs_files(self) -> list[str]:
        """The files that take a pid to move its process into the group, one per hierarchy."""
        return [str(path / "cgroup.procs") for path in self.paths]

    def join(self, pids: Collection[int]) -> None:
        """Move `pids` into the group in every hierarchy.

        Blocking: call it off the loop. The first cgroup move after a quiet spell waits for an
        RCU grace period in the kernel (cgroup v1: 7-20 ms measured here; see
        CgroupDriver.warm_up).
        """
        for path in self.procs_files:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                for pid in pids:
                    os.write(fd, str(pid).encode())
            finally:
                os.close(fd)

    def _file(self, controller: str, name: str) -> Path | None:
        path = self._dirs.get(controller)
        return path / name if path is not None else None

    def pids(self) -> set[int]:
        procs = self._file("pids", "cgroup.procs")
        text = _read(procs) if procs is not None else None
        return {int(p) for p in (text or "").split() if p.isdigit()}

    def stats(self) -> CgroupStats:
        if self.version is CgroupVersion.V1:
            memory, cpuacct = self._dirs["memory"], self._dirs.get("cpuacct")
            peak = _read_int(memory / "memory.max_usage_in_bytes")
            cpu = _read_int(cpuacct / "cpuacct.usage") if cpuacct is not None else None
            oom = _keyed(memory / "memory.oom_control", "oom_kill")
        else:
            group = self._dirs["memory"]
            peak = _read_int(group / "memory.peak")
            usec = _keyed(group / "cpu.stat", "usage_usec")
            cpu = usec * 1000 if usec is not None else None
            oom = _keyed(group / "memory.events", "oom_kill")
        pids_events = self._file("pids", "pids.events")
        refused = _keyed(pids_events, "max") if pids_events is not None else None
        return CgroupStats(
            peak_memory_bytes=peak,
            cpu_time_ns=cpu,
            oom_killed=bool(oom),
            pids_limited=bool(refused),
        )

    async def kill_all(self, *, sparing: Collection[int] = (), within: float = 5.0) -> None:
        """SIGKILL every process in the group but `sparing` until none is left (pidfds: no
        pid-reuse races). Sparing a supervisor lets it reap its own children (no orphans)."""
        kill_file = self._file("pids", "cgroup.kill")
        if not sparing and kill_file is not None and kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
        deadline = time.monotonic() + within
        while pids := self.pids() - set(sparing):
            for pid in pids:
                _kill_if_member(pid, self)
            if time.monotonic() > deadline:
                raise SandboxError(f"processes {sorted(pids)} survived SIGKILL", retryable=True)
            await asyncio.sleep(0.005)

    async def remove(self, *, within: float = 2.0) -> None:
        """Remove every directory of the group (retrying while dying processes are released)."""
        deadline = time.monotonic() + within
        for path in self.paths:
            while True:
                try:
                    self._rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise SandboxError(f"cannot remove cgroup {path}: {exc}") from exc
                    await asyncio.sleep(0.01)


def _kill_if_member(pid: int, group: RunCgroup) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return  # already gone
    try:
        if pid in group.pids():  # still the same process: the pidfd pins it
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass
    finally:
        os.close(pidfd)


class CgroupDriver:
    """Creates per-run cgroups under `parents` (controller → directory)."""

    def __init__(
        self,
        version: CgroupVersion,
        parents: Mapping[str, Path],
        *,
        rmdir: Callable[[Path], None] = os.rmdir,
    ) -> None:
        self.version = version
        self.parents = dict(parents)
        self._rmdir = rmdir
        self._delegated = False
        self._resolved: dict[str, Path] | None = None
        # The executor's own group in one hierarchy (the parent of the runs' parent).
        first = self.parents.get("pids") or self.parents.get("")
        self._warm_path: Path | None = first.parent / "cgroup.procs" if first else None

    @classmethod
    def detect(
        cls,
        *,
        root: Path = Path("/sys/fs/cgroup"),
        self_cgroup: Path = Path("/proc/self/cgroup"),
        subdir: str = "voidrunner",
        rmdir: Callable[[Path], None] = os.rmdir,
    ) -> CgroupDriver | None:
        """The driver for this host (v2 when the unified hierarchy has memory), or None."""
        own = parse_self_cgroup(_read(self_cgroup) or "")
        controllers = (_read(root / "cgroup.controllers") or "").split()
        if "memory" in controllers and "pids" in controllers and "" in own:
            base = root / own[""].lstrip("/")
            return cls(CgroupVersion.V2, {"": base / subdir}, rmdir=rmdir)
        if not all((root / c).is_dir() and c in own for c in _V1_REQUIRED):
            return None
        parents = {
            c: root / c / own[c].lstrip("/") / subdir
            for c in _V1_REQUIRED + _V1_OPTIONAL
            if (root / c).is_dir() and c in own
        }
        return cls(CgroupVersion.V1, parents, rmdir=rmdir)

    def _real_parents(self) -> dict[str, Path]:
        """The parents with symlinks resolved (once: resolving on every run cost about 5 % of
        the executor's CPU here)."""
        if self._resolved is None:
            self._resolved = {c: p.resolve() for c, p in self.parents.items()}
        return self._resolved

    @staticmethod
    def _mkdir_in(parent: Path, path: Path) -> None:
        try:
            path.mkdir()
        except FileNotFoundError:  # the parent went away (an operator's cleanup): again
            parent.mkdir(exist_ok=True)
            path.mkdir()

    def warm_up(self) -> None:
        """Move this process into the group it is already in: a no-op that starts the kernel's
        RCU grace period for cgroup moves now, so the run's own move, moments later, does not
        wait for a whole one (7-20 ms on cgroup v1 here after an idle spell). Blocking: call it
        off the loop. Best effort: a failure turns it off.
        """
        if self._warm_path is None:
            return
        try:
            _write(self._warm_path, str(os.getpid()))
        except OSError:
            self._warm_path = None

    def prepare(self) -> None:
        """Create the runs' parent groups now (delegating the controllers on v2), while setting
        up: an executor whose own group is a hierarchy's root creates them in that root's
        directory, which is read-only (0555) without CAP_DAC_OVERRIDE, a capability the
        executor drops once set up. Raises SandboxError when that fails."""
        try:
            if self.version is CgroupVersion.V2:
                self._delegate()
            else:
                for parent in set(self.parents.values()):
                    parent.mkdir(exist_ok=True)
        except OSError as exc:
            raise SandboxError(f"cannot set up the runs' cgroups: {exc}") from exc

    def create(self, name: str, limits: Limits) -> RunCgroup:
        """A new group called `name` with `limits` applied; SandboxError when that fails."""
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"bad cgroup name {name!r}")
        created: dict[str, Path] = {}
        try:
            if self.version is CgroupVersion.V2:
                self._delegate()
                created = dict.fromkeys(_V2_CONTROLLERS, self.parents[""] / name)
                self.parents[""].joinpath(name).mkdir()
            else:
                made: set[Path] = set()
                for controller, parent in self.parents.items():
                    path = parent / name
                    # Co-mounted controllers (cpu,cpuacct) share one directory: made once.
                    real = self._real_parents()[controller] / name
                    if real not in made:
                        self._mkdir_in(parent, path)
                        made.add(real)
                    created[controller] = path
            group = RunCgroup(self.version, created, rmdir=self._rmdir)
            self._limit(group, limits)
        except OSError as exc:
            for path in set(created.values()):
                with contextlib.suppress(OSError):
                    self._rmdir(path)
            raise SandboxError(f"cannot set up cgroup {name}: {exc}", retryable=True) from exc
        return group

    def apply(self, group: RunCgroup, limits: Limits) -> None:
        """Set `limits` on a group that exists (a warm sandbox's, when a run claims it)."""
        try:
            self._limit(group, limits)
        except OSError as exc:
            raise SandboxError(
                f"cannot set the run's cgroup limits: {exc}", retryable=True
            ) from exc

    def reap_stale(self, min_age_seconds: float, prefix: str = "run-") -> list[Path]:
        """Remove empty run groups older than `min_age_seconds`; returns the removed paths.

        An executor killed with SIGKILL cannot remove its runs' groups; their processes die
        with it (bwrap --die-with-parent), leaving empty directories. Only empty groups can be
        removed (rmdir fails on a populated one), so live runs of other executors sharing the
        parent are safe; the age guard skips a group that is being set up right now.
        """
        removed: list[Path] = []
        now = time.time()
        for parent in set(self.parents.values()):
            try:
                children = [p for p in parent.iterdir() if p.is_dir() and p.name.startswith(prefix)]
            except OSError:
                continue
            for child in children:
                try:
                    if now - child.stat().st_mtime < min_age_seconds:
                        continue
                    if (_read(child / "cgroup.procs") or "").strip():
                        continue
                    self._rmdir(child)
                except OSError:
                    continue
                removed.append(child)
        return removed

    @classmethod
    def _limit(cls, group: RunCgroup, limits: Limits) -> None:
        if group.version is CgroupVersion.V2:
            cls._limit_v2(group.dirs["memory"], limits)
        else:
            cls._limit_v1(group.dirs, limits)

    @staticmethod
    def _limit_v1(dirs: Mapping[str, Path], limits: Limits) -> None:
        memory = dirs["memory"]
        _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
        if (memory / "memory.memsw.limit_in_bytes").exists():
            _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
        with contextlib.suppress(OSError):
            _write(memory / "memory.swappiness", "0")
        _write(dirs["pids"] / "pids.max", str(limits.pids))
        if "cpu" in dirs:
            _write(dirs["cpu"] / "cpu.cfs_period_us", str(_CFS_PERIOD_US))
            _write(
                dirs["cpu"] / "cpu.cfs_quota_us", str(max(1000, int(limits.cpu * _CFS_PERIOD_US)))
            )

    @staticmethod
    def _limit_v2(group: Path, limits: Limits) -> None:
        _write(group / "memory.max", str(limits.memory_bytes))
        with contextlib.suppress(OSError):
            _write(group / "memory.swap.max", "0")
        _write(group / "pids.max", str(limits.pids))
        quota = max(1000, int(limits.cpu * _CFS_PERIOD_US))
        with contextlib.suppress(OSError):  # cpu may not be delegated; memory and pids must be
            _write(group / "cpu.max", f"{quota} {_CFS_PERIOD_US}")

    def _delegate(self) -> None:
        """Enable memory/pids/cpu for our subtree (once), moving ourselves to a leaf if needed."""
        if self._delegated:
            return
        parent = self.parents[""]
        own = parent.parent
        wanted = " ".join(f"+{c}" for c in _V2_CONTROLLERS)
        try:
            _write(own / "cgroup.subtree_control", wanted)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            leaf = own / "executor"
            leaf.mkdir(exist_ok=True)
            _write(leaf / "cgroup.procs", str(os.getpid()))
            _write(own / "cgroup.subtree_control", wanted)
        parent.mkdir(exist_ok=True)
        _write(parent / "cgroup.subtree_control", wanted)
        self._delegated = True
