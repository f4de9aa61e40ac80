"""Pure logic of the docker backend: the container it creates, and what a finished container means.

    config = container_config(image, limits, oci_runtime="runsc", labels=labels)
    outcome = interpret(stop, state, trailer, oci_runtime="runsc", limits=limits, had_output=...)

Every container gets: no network at all (NetworkMode none: a daemon started with --bridge=none
still has a `host` network), a read-only root, no capabilities, no-new-privileges, uid/gid 65534,
memory with swap equal to memory (no swap), a pids limit, a CPU quota, rlimits for open files,
file size and core dumps, a size-capped tmpfs at /tmp (the work dir) and one at /sandbox (the
launcher puts the source there), a private IPC namespace with a capped /dev/shm, and no log driver
(output reaches the executor only through the attach stream, so a flood never lands on the
engine's disk).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voidrunner.contracts.execution import signal_name
from voidrunner.executor.sandbox.docker_launcher import LAUNCHER_ARGV, Trailer
from voidrunner.executor.sandbox.types import Limits, SandboxError, TerminationReason

__all__ = [
    "GVISOR_MIN_PIDS",
    "SANDBOX_DIR",
    "SANDBOX_PATH",
    "WORKDIR",
    "Outcome",
    "PoolKey",
    "container_config",
    "environment",
    "gvisor_seccomp_profile",
    "interpret",
    "pool_key",
]

WORKDIR = "/tmp"  # noqa: S108 - the path inside the container, a private tmpfs  # nosec B108
SANDBOX_DIR = "/sandbox"
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
NOBODY = "65534:65534"
# gVisor's own threads count against the host pids cgroup: below ~1024 the sandbox itself dies
# (exit 2, no output) after a handful of forks. Processes inside gVisor are bounded by the memory
# limit instead (a fork bomb ends as memory_limit). At 1024 a bash fork bomb (small processes)
# still reached the host limit before the memory limit and crashed gVisor (reported as
# sandbox_error: found by the abuse suite); at 4096 it ends at the memory limit. Size the host's
# kernel.pid_max for 4096 per concurrent gVisor run.
GVISOR_MIN_PIDS = 4096
GVISOR_EXIT_CRASH = 2
_SHM_MAX = 64 * 1024**2
# Inside gVisor (runsc --oci-seccomp) Docker's default profile breaks threads: gVisor ignores its
# `errnoRet: ENOSYS` for clone3, glibc sees EPERM and does not fall back to clone. gVisor is the
# boundary there; this profile is defence in depth: everything allowed but namespace, mount,
# tracing, key and kernel-admin calls (gVisor itself answers clone3 with ENOSYS).
_GVISOR_DENY = [
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "ptrace",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "sethostname",
    "setdomainname",
    "open_by_handle_at",
    "name_to_handle_at",
    "quotactl",
    "syslog",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "adjtimex",
]
_CLONE_NAMESPACE_FLAGS = (
    0x20000,
    0x2000000,
    0x4000000,
    0x8000000,
    0x10000000,
    0x20000000,
    0x40000000,
)
_EPERM = 1


def gvisor_seccomp_profile() -> str:
    """The seccomp profile (Docker's JSON format) runsc containers get; see _GVISOR_DENY."""
    rules: list[dict[str, Any]] = [
        {"names": list(_GVISOR_DENY), "action": "SCMP_ACT_ERRNO", "errnoRet": _EPERM}
    ]
    for flag in _CLONE_NAMESPACE_FLAGS:
        arg = {"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}
        rules.append(
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": _EPERM, "args": [arg]}
        )
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}, sort_keys=True)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_ENV_BYTES = 64 * 1024

# What decides a container's configuration (everything else travels over stdin), so a pre-created
# container fits any run with the same key.
PoolKey = tuple[str, int, float, int, int, int]


def pool_key(image: str, limits: Limits) -> PoolKey:
    """The configuration-relevant part of a run: image and the limits the engine enforces."""
    return (
        image,
        limits.memory_bytes,
        limits.cpu,
        limits.pids,
        limits.tmp_bytes,
        limits.max_open_files,
    )


def _tmpfs(size: int) -> str:
    # exec: `go build` runs tools it writes there; nosuid/nodev: nothing in it may gain privileges.
    return f"rw,nosuid,nodev,exec,size={size},mode=1777"


def container_config(
    image: str, limits: Limits, *, oci_runtime: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The create-container body for one run (or one step of a compiled runtime)."""
    gvisor = oci_runtime == "runsc"
    pids = max(limits.pids, GVISOR_MIN_PIDS) if gvisor else limits.pids
    security = ["no-new-privileges"]
    if gvisor:
        security.append(f"seccomp={gvisor_seccomp_profile()}")
    ulimits = [
        {"Name": "nofile", "Soft": limits.max_open_files, "Hard": limits.max_open_files},
        {"Name": "fsize", "Soft": limits.tmp_bytes, "Hard": limits.tmp_bytes},
        {"Name": "core", "Soft": 0, "Hard": 0},
    ]
    return {
        "Image": image,
        "Entrypoint": list(LAUNCHER_ARGV),
        "Cmd": [],
        "User": NOBODY,
        "WorkingDir": WORKDIR,
        "Env": [f"PATH={SANDBOX_PATH}", "LANG=C.UTF-8"],
        "Hostname": "sandbox",
        "Labels": dict(labels),
        "NetworkDisabled": True,
        "Tty": False,
        "OpenStdin": True,
        "StdinOnce": True,
        "AttachStdin": True,
        "AttachStdout": True,
        "AttachStderr": True,
        "HostConfig": {
            "Runtime": oci_runtime,
            "NetworkMode": "none",
            "ReadonlyRootfs": True,
            "CapDrop": ["ALL"],
            "SecurityOpt": security,
            "Privileged": False,
            "Init": False,  # the launcher must be pid 1: it reaps and kills what the code leaves
            "IpcMode": "private",
            "ShmSize": min(limits.tmp_bytes, _SHM_MAX),
            "Memory": limits.memory_bytes,
            "MemorySwap": limits.memory_bytes,
            "OomKillDisable": False,
            "PidsLimit": pids,
            "NanoCpus": round(limits.cpu * 1e9),
            "Ulimits": ulimits,
            "Tmpfs": {WORKDIR: _tmpfs(limits.tmp_bytes), SANDBOX_DIR: _tmpfs(limits.tmp_bytes)},
            "LogConfig": {"Type": "none", "Config": {}},
            "AutoRemove": False,  # removed explicitly after inspect, on every path
            "RestartPolicy": {"Name": "no"},
        },
    }


def environment(runtime_env: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The program's whole environment: ours, the runtime's, then the task's (validated)."""
    env = {"PATH": SANDBOX_PATH, "HOME": WORKDIR, "TMPDIR": WORKDIR, "LANG": "C.UTF-8"}
    env.update(runtime_env)
    size = 0
    for key, value in extra.items():
        if not _ENV_NAME.match(key) or "\0" in value:
            raise SandboxError(f"invalid environment variable {key[:64]!r}")
        size += len(key) + len(value)
        env[key] = value
    if size > _MAX_ENV_BYTES:
        raise SandboxError(f"environment larger than {_MAX_ENV_BYTES} bytes")
    return env


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one container's run ended, as the result contract states it."""

    reason: TerminationReason
    return_code: int | None
    cpu_time_ns: int
    peak_memory_bytes: int
    detail: str = ""
    signal: str | None = None
    # The program's own wall time, when the launcher measured it (not the container's start).
    wall_time_ns: int | None = None


def interpret(
    stop: TerminationReason,
    state: Mapping[str, Any],
    trailer: Trailer | None,
    *,
    oci_runtime: str,
    limits: Limits,
    had_output: bool,
) -> Outcome:
    """Map why we stopped waiting, the engine's `State` and the launcher's trailer to an outcome.

    `stop` is EXIT when the container ended by itself, otherwise the reason we ended it.
    """
    cpu = trailer.cpu_time_ns if trailer else 0
    peak = trailer.peak_memory_bytes if trailer else 0
    code = int(state.get("ExitCode", -1))
    signal = signal_name(trailer.signal) if trailer and trailer.signal else None
    if stop is not TerminationReason.EXIT:
        detail = f"ended by the sandbox: {stop.value}"
        return Outcome(stop, None, cpu, peak, detail, signal or "SIGKILL")
    if state.get("OOMKilled") and code != 0:
        # gVisor dies as a whole (no trailer): it did reach the limit, so that is its peak.
        return_code = trailer.exit_code if trailer else None
        return Outcome(
            TerminationReason.MEMORY_LIMIT,
            return_code if return_code is not None and 0 <= return_code < 128 else None,
            cpu,
            peak or limits.memory_bytes,
            f"out of memory (limit {limits.memory_bytes} bytes)",
            signal or "SIGKILL",
        )
    error = str(state.get("Error") or "")
    if error:
        return Outcome(TerminationReason.SANDBOX_ERROR, None, cpu, peak, f"engine: {error}")
    if trailer is None:
        if oci_runtime == "runsc" and code == GVISOR_EXIT_CRASH and not had_output:
            detail = "gVisor sandbox crashed (exit 2 without output; host pids limit reached?)"
        else:
            detail = f"the launcher ended without a report (exit {code})"
        return Outcome(TerminationReason.SANDBOX_ERROR, None, cpu, peak, detail)
    return _ended_by_itself(trailer, limits)


def _ended_by_itself(trailer: Trailer, limits: Limits) -> Outcome:
    """The launcher's own view: the engine's exit code cannot tell a signal from 128+N."""
    cpu, peak, wall = trailer.cpu_time_ns, trailer.peak_memory_bytes, trailer.wall_time_ns
    signal = signal_name(trailer.signal) if trailer.signal else None
    reason, detail, code = TerminationReason.EXIT, "", trailer.exit_code
    if signal == "SIGSYS":
        reason = TerminationReason.SECURITY_VIOLATION
        detail = "killed by the sandbox's seccomp filter (a forbidden system call)"
    elif trailer.refused_forks > 0:
        reason, detail = (
            TerminationReason.PIDS_LIMIT,
            f"reached the limit of {limits.pids} processes",
        )
    return Outcome(reason, code, cpu, peak, detail, signal, wall or None)
