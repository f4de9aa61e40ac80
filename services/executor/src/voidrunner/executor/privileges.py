"""Dropping the executor's own capabilities, when it was started as root, to what spawning needs.

    kept = drop_capabilities(KEEP["bwrap"])   # {"CAP_KILL", "CAP_SETGID", "CAP_SETUID"}

What the bwrap backend does as root after start-up, and what each needs (measured: the
conformance, abuse and uid suites pass with only these):
- CAP_SETUID, CAP_SETGID: setpriv switches to the run's sandbox uid in front of bwrap. A child
  exec'd by root gets the bounding set as its capabilities, so they must stay there.
- CAP_KILL: the run's processes belong to its sandbox uid; ending them (the pidfd SIGKILL
  sweep of a cgroup) is a signal to another user's process.
Nothing else: the executor keeps uid 0, so it still owns the root-owned cgroup files it writes
(cgroup v1 also lets only euid 0 move another user's process) and its own data, and it binds
no port below 1024. bwrap runs unprivileged, in user namespaces, and needs none of ours. The
runs' parent cgroups are created while setting up (CgroupDriver.prepare): in a hierarchy's
root directory that takes CAP_DAC_OVERRIDE.

The docker backend as root keeps CAP_KILL alone: the engine does the spawning, its socket
belongs to root (uid 0 reaches it as owner; a socket of another user, a rootless engine's, would
need CAP_DAC_OVERRIDE), and runsc's sandbox process, which `reap_processes` may have to SIGKILL
when the engine lost it, runs as host uid 65534. Measured with the docker conformance cases of
every runtime, timeouts, memory limits and fork bombs, under runc and runsc.

The bounding set goes first (that needs CAP_SETPCAP, dropped with it), then ambient and
inheritable are cleared and permitted and effective set to the kept set. Capabilities belong to
each thread: this runs before the executor starts any thread (its gRPC server, the default
executor), and `drop_capabilities` fails if a thread already running kept more. Written with
ctypes over prctl(2) and capset(2): the wrappers on the package index (python-prctl) build a C
extension against libcap headers for what is three system calls here.

Not done: no_new_privs. It would stop bwrap from entering an AppArmor profile that allows user
namespaces (Ubuntu 23.10+; see sandbox/userns.py), and setpriv and bwrap have no setuid bit to
stop.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Collection
from pathlib import Path

from voidrunner.common.logs import get_logger

__all__ = [
    "CAPABILITIES",
    "KEEP",
    "PrivilegeError",
    "capability_sets",
    "drop_capabilities",
    "drop_for",
]

_log = get_logger("voidrunner.executor.privileges")

# linux/capability.h, in order.
CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
# What each backend needs once started (see the module docstring).
KEEP: dict[str, frozenset[str]] = {
    "bwrap": frozenset({"CAP_SETUID", "CAP_SETGID", "CAP_KILL"}),
    "docker": frozenset({"CAP_KILL"}),
}

_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522
_SETS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


class PrivilegeError(RuntimeError):
    """The capabilities could not be brought down to the kept set."""


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _mask(names: Collection[str]) -> int:
    unknown = set(names) - set(CAPABILITIES)
    if unknown:
        raise ValueError(f"unknown capabilities: {sorted(unknown)}")
    return sum(1 << CAPABILITIES.index(name) for name in names)


def _names(mask: int) -> set[str]:
    return {name for i, name in enumerate(CAPABILITIES) if mask >> i & 1} | {
        f"cap_{i}" for i in range(len(CAPABILITIES), 64) if mask >> i & 1
    }


def capability_sets(status: Path = Path("/proc/thread-self/status")) -> dict[str, set[str]]:
    """The capability sets (CapInh, CapPrm, CapEff, CapBnd, CapAmb) in `status`, by name."""
    sets = {}
    for line in status.read_text().splitlines():
        key, _, value = line.partition(":")
        if key in _SETS:
            sets[key] = _names(int(value.strip(), 16))
    return sets


def _last_cap() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return len(CAPABILITIES) - 1


def drop_capabilities(keep: Collection[str]) -> set[str]:
    """Bring this thread's bounding, permitted and effective sets down to `keep` (and
    inheritable and ambient to nothing); returns what stays. Raises PrivilegeError when that
    fails, or when another thread of the process holds more than `keep`."""
    libc = ctypes.CDLL(None, use_errno=True)
    wanted = _mask(keep)
    for cap in range(_last_cap() + 1):
        if wanted >> cap & 1 or libc.prctl(_PR_CAPBSET_READ, cap, 0, 0, 0) != 1:
            continue
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            error = os.strerror(ctypes.get_errno())
            raise PrivilegeError(f"cannot drop capability {cap} from the bounding set: {error}")
    # Fails (EINVAL) on kernels without ambient capabilities, which then have none to clear.
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _Header(_CAP_VERSION_3, 0)
    data = (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise PrivilegeError(f"capget: {os.strerror(ctypes.get_errno())}")
    held = data[0].permitted | data[1].permitted << 32
    kept = held & wanted
    for i in range(2):
        word = kept >> (32 * i) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = word
        data[i].inheritable = 0
    if libc.capset(ctypes.byref(header), data) != 0:
        raise PrivilegeError(f"capset: {os.strerror(ctypes.get_errno())}")
    left = _names(kept)
    for task in sorted(Path("/proc/self/task").iterdir()):
        try:
            sets = capability_sets(task / "status")
        except OSError:  # the thread ended meanwhile
            continue
        extra = (sets["CapBnd"] - set(keep)) | (sets["CapPrm"] | sets["CapEff"]) - left
        extra |= sets["CapInh"] | sets["CapAmb"]
        if extra:
            raise PrivilegeError(
                f"thread {task.name} still holds {sorted(extra)}: it started before the "
                "capabilities were dropped"
            )
    return left


def drop_for(backend: str) -> set[str] | None:
    """Drop to what `backend` needs when running as root, with one log line saying what was
    kept; returns the kept set, or None when nothing was dropped (and the line says why)."""
    if os.geteuid() != 0:
        _log.info("capabilities: not root, nothing to drop", backend=backend)
        return None
    keep = KEEP.get(backend)
    if keep is None:  # a backend of tomorrow: measure what it needs before dropping anything
        _log.info("capabilities: kept, no measured set for this backend", backend=backend)
        return None
    kept = drop_capabilities(keep)
    _log.info("capabilities dropped", backend=backend, kept=sorted(kept))
    return kept
