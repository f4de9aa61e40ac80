"""The host uids the bwrap backend runs sandboxes as, and the checks that they are free here.

    uids = UidRange(DEFAULT_UID_BASE, 4)     # slot i: host uid and gid base + i
    check_range(uids)                         # SandboxError when this host already uses one

Started as root, the executor runs every sandbox under a uid of its range (uid_pool.py leases
them, one run at a time, like isolate's per-box uids): bwrap started as root would map the
sandbox's user onto host root. The default base, 0x70000000 (1879048192), lies in a block that
systemd's table of uid ranges (UIDS-GIDS.md) leaves unused: above the container ranges of
systemd-nspawn (up to 0x6FFFFFFF) and shadow's default ceiling for subordinate ids (SUB_UID_MAX
600100000), below 2^31, where tools that read uids as signed numbers break. Several executors on
one host take disjoint ranges: each its own VOIDRUNNER_SANDBOX_UID_BASE, at least its
VOIDRUNNER_EXECUTOR_SLOTS apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from voidrunner.executor.sandbox.types import SandboxError

__all__ = ["DEFAULT_UID_BASE", "MAX_UID", "UidRange", "check_range"]

DEFAULT_UID_BASE = 0x70000000
MAX_UID = 2**31 - 1
_RESERVED = {65534: "nobody", 65535: "(uint16_t) -1"}
_NAMED = 5  # users and ranges named in an error, at most


@dataclass(frozen=True, slots=True)
class UidRange:
    """`count` consecutive host uids (each also the gid) from `base`."""

    base: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("a sandbox uid range holds at least one uid")
        if self.base < 1 or self.last > MAX_UID:
            raise ValueError(
                f"sandbox uids {self} must lie within 1-{MAX_UID} (uid 0 is root; above 2^31 "
                "tools misread uids as negative)"
            )

    @property
    def last(self) -> int:
        return self.base + self.count - 1

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.base, self.base + self.count))

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and self.base <= uid <= self.last

    def overlaps(self, start: int, count: int) -> bool:
        """Whether ids `start`..`start + count - 1` share one with this range."""
        return start <= self.last and self.base < start + count

    def __str__(self) -> str:
        return f"{self.base}-{self.last}"


def _ids_in(path: Path, uids: UidRange) -> list[str]:
    """Names in a passwd or group file whose id (third field) lies in `uids`."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit() and int(fields[2]) in uids:
            found.append(f"{fields[0]} ({fields[2]})")
    return found


def _subordinates_in(path: Path, uids: UidRange) -> list[str]:
    """Entries of a subuid or subgid file whose range overlaps `uids`."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(":")
        numeric = len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit()
        if numeric and uids.overlaps(int(fields[1]), int(fields[2])):
            found.append(line)
    return found


def _unmapped(path: Path, uids: UidRange) -> list[int]:
    """Ids of `uids` this user namespace cannot switch to (absent from its uid_map/gid_map)."""
    try:
        text = path.read_text()
    except OSError:
        return []
    spans = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            spans.append((int(parts[0]), int(parts[2])))
    return [uid for uid in uids if not any(start <= uid < start + n for start, n in spans)]


def check_range(uids: UidRange, *, etc: Path = Path("/etc"), proc: Path = Path("/proc")) -> None:
    """Refuse a range that holds a reserved id, a user or group of this host (from the local
    files: a directory service is not asked), another user's subordinate ids, or an id this
    user namespace does not map. Raises SandboxError naming each clash."""
    problems = [f"{uid} is {name}" for uid, name in _RESERVED.items() if uid in uids]
    for what, file in (("users", "passwd"), ("groups", "group")):
        if names := _ids_in(etc / file, uids):
            problems.append(f"{what} of this host: {', '.join(names[:_NAMED])}")
    for file in ("subuid", "subgid"):
        if entries := _subordinates_in(etc / file, uids):
            problems.append(f"subordinate ids in {etc / file}: {', '.join(entries[:_NAMED])}")
    for file in ("uid_map", "gid_map"):
        if missing := _unmapped(proc / "self" / file, uids):
            problems.append(
                f"{len(missing)} ids (from {missing[0]}) are not mapped in this user namespace "
                f"({proc / 'self' / file})"
            )
    if problems:
        raise SandboxError(
            f"sandbox uids {uids} clash with this host: {'; '.join(problems)}. Choose a free "
            "range with VOIDRUNNER_SANDBOX_UID_BASE (VOIDRUNNER_EXECUTOR_SLOTS uids from it)"
        )
