"""The seccomp filter for bwrap sandboxes, compiled once to BPF and handed over with `--seccomp FD`.

Default allow, with a deny list (errno, not kill, so programs see a clear failure):
- sockets of any family but AF_UNIX (socket, socketpair): EAFNOSUPPORT; no network beyond the empty
  network namespace even if one were shared by mistake;
- debugging and other processes' memory: ptrace, process_vm_readv/writev, kcmp;
- namespaces and mounts: unshare, setns, clone with any CLONE_NEW* flag, mount and the new mount
  API, pivot_root, chroot; clone3 gets ENOSYS so libc falls back to clone (flags inspectable);
- kernel attack surface: bpf, keyctl/add_key/request_key, perf_event_open, userfaultfd, io_uring_*,
  module loading, kexec, reboot, swap, acct, quotactl, syslog, open_by_handle_at, iopl/ioperm,
  clock setting, TIOCSTI (typing into a terminal).
Syscalls of other ABIs (x32, i386) are killed (libseccomp's default for a foreign architecture).
"""

from __future__ import annotations

import errno
import os
import socket
from functools import lru_cache

import pyseccomp as sc

__all__ = ["DENIED_SYSCALLS", "filter_bpf"]

DENIED_SYSCALLS = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "pivot_root",
    "chroot",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "open_by_handle_at",
    "name_to_handle_at",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "lookup_dcookie",
    "fanotify_init",
    "vhangup",
    "uselib",
)

_CLONE_NEW_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
_TIOCSTI = 0x5412


def _known(name: str) -> bool:
    try:
        return int(sc.resolve_syscall(sc.system_arch(), name)) >= 0
    except (ValueError, RuntimeError, OSError):
        return False


def _build() -> sc.SyscallFilter:
    flt = sc.SyscallFilter(defaction=sc.ALLOW)
    deny = sc.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        if _known(name):
            flt.add_rule(deny, name)
    for family_call in ("socket", "socketpair"):
        flt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), family_call, sc.Arg(0, sc.NE, socket.AF_UNIX))
    for flag in _CLONE_NEW_FLAGS:
        flt.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    flt.add_rule(deny, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, _TIOCSTI))
    return flt


@lru_cache(maxsize=1)
def filter_bpf() -> bytes:
    """The compiled BPF program (built once per process)."""
    fd = os.memfd_create("voidrunner-seccomp-build", os.MFD_CLOEXEC)
    with os.fdopen(fd, "w+b") as file:
        _build().export_bpf(file)
        file.flush()
        file.seek(0)
        return file.read()
