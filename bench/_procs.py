"""What /proc says about a process: CPU seconds (own and reaped children's) and resident memory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class CpuTimes:
    own: float  # utime + stime of the process, seconds
    children: float  # cutime + cstime: children it reaped (an executor's sandboxes)


def cpu_times(pid: int) -> CpuTimes:
    """CPU seconds spent by `pid` (threads included) and by the children it waited for."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return CpuTimes(0.0, 0.0)
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return CpuTimes((utime + stime) / _TICK, (cutime + cstime) / _TICK)


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from every thread's children list)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 once it is gone)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * _PAGE


def python_tree_rss(pid: int) -> int:
    """RSS of `pid` plus its Python descendants (uvicorn workers), not its sandboxes."""
    total = rss_bytes(pid)
    for child in children(pid):
        if comm(child).startswith("python"):
            total += python_tree_rss(child)
    return total


def tree_rss(pid: int) -> int:
    """RSS of `pid` and all its live descendants."""
    return rss_bytes(pid) + sum(tree_rss(child) for child in children(pid))


def sandboxes_rss(pid: int) -> tuple[int, int]:
    """(count, RSS) of the sandboxes `pid` started: its descendants under non-Python children
    (an idle executor's are its warm pool)."""
    kids = [child for child in children(pid) if not comm(child).startswith("python")]
    return len(kids), sum(tree_rss(child) for child in kids)


def python_tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and of its live Python descendants (uvicorn workers)."""
    total = cpu_times(pid).own
    for child in children(pid):
        if comm(child).startswith("python"):
            total += python_tree_cpu(child)
    return total


def tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and all its live descendants (PostgreSQL and its backends)."""
    return cpu_times(pid).own + sum(tree_cpu(child) for child in children(pid))


@dataclass(frozen=True, slots=True)
class MachineCpu:
    """Jiffies of the whole machine (all cores) from /proc/stat's first line."""

    user: int  # user + nice
    system: int  # system + irq + softirq
    idle: int  # idle + iowait
    total: int

    @classmethod
    def now(cls) -> MachineCpu:
        """The counters since boot."""
        with open("/proc/stat") as stat:
            v = [int(x) for x in stat.readline().split()[1:]]
        return cls(v[0] + v[1], v[2] + v[5] + v[6], v[3] + v[4], sum(v[:8]))

    def busy_since(self, before: MachineCpu) -> dict[str, float]:
        """Shares (0..1) of all cores' time since `before`: busy, user, system.

        Counts what per-process figures miss: kernel threads (namespace teardown, RCU work),
        daemons' unreaped children, interrupts.
        """
        span = max(1, self.total - before.total)
        return {
            "busy": round(1 - (self.idle - before.idle) / span, 3),
            "user": round((self.user - before.user) / span, 3),
            "system": round((self.system - before.system) / span, 3),
        }
