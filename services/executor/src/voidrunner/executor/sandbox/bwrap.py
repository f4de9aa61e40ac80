"""The bubblewrap backend: the default where no Docker engine is configured.

Each run (each step, for compiled runtimes) is one `bwrap` process with every namespace unshared
(no network: only `lo`), read-only /usr, a size-capped tmpfs at /tmp (the work dir), the source as a
read-only file at /sandbox/<source_file>, uid/gid 65534, no capabilities, a cleared environment and
the seccomp filter of seccomp.py. Resource limits come from a per-run cgroup (memory+swap, pids, CPU
quota), plus safe rlimits (core, nofile, fsize, cpu — never AS). bwrap is started behind a gate
(see _spawn.Gate): the executor moves the waiting process into the cgroup and only then lets it
become bwrap, so everything bwrap starts is created inside the cgroup, and nothing starts (or is
left waiting) if the executor dies first.
When the executor is root, bwrap itself is started as an unprivileged host uid (65534 by default):
started as root, its user namespace would map the sandbox's uid onto host root. util-linux's
prlimit and setpriv set the rlimits and drop the uid in front of bwrap, so spawning needs no
pre-exec hook in the executor (whose fork costs milliseconds; without a hook Python vforks).
Setting rlimits from outside would need CAP_SYS_RESOURCE, which containers rarely have.

The host never writes into a directory the sandbox can write: the source, stdin, the seccomp program
and a compiled artifact travel in sealed memfds (`--ro-bind-data`, stdin), so no host code ever
follows a path the sandboxed code could have turned into a symlink. A compile step (Go) runs in its
own sandbox with the runtime's compile limits; its artifact comes back over a pipe (capped at the
compile tmp size) and goes into the run sandbox as /sandbox/<artifact>, read-only and executable.

Ending a run: SIGKILL to bwrap (its pid-namespace init dies with it, taking every process in the
namespace along), then SIGKILL to whatever is still in the cgroup, then rmdir of the cgroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from voidrunner.executor.sandbox._spawn import (
    SETUP_FAILED,
    Gate,
    bwrap_failure,
    read_capped,
    sealed_memfd,
)
from voidrunner.executor.sandbox.cgroups import CgroupDriver, CgroupStats, RunCgroup
from voidrunner.executor.sandbox.limits import cap_limits
from voidrunner.executor.sandbox.output import OutputCollector
from voidrunner.executor.sandbox.runtimes import RuntimeCatalog, RuntimeSpec, load_catalog
from voidrunner.executor.sandbox.seccomp import filter_bpf
from voidrunner.executor.sandbox.types import (
    CancelToken,
    Limits,
    OnOutput,
    RunRequest,
    RunResult,
    RuntimeInfo,
    RuntimeUnavailable,
    SandboxError,
    StreamName,
    TerminationReason,
)

__all__ = ["DEFAULT_CAPS", "BwrapSandbox"]

DEFAULT_CAPS = Limits(
    timeout_seconds=60.0,
    memory_bytes=1024**3,
    cpu=2.0,
    max_output_bytes=16 * 1024**2,
    pids=256,
    tmp_bytes=1024**3,
    max_open_files=1024,
)
# Run cgroups older than this with no process inside belong to a dead executor.
STALE_CGROUP_SECONDS = 60.0
RESOLVE_SECONDS = 30.0
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
WORKDIR = "/tmp"  # noqa: S108 - inside the sandbox: its own size-capped tmpfs  # nosec B108
SOURCE_DIR = "/sandbox"
_NOBODY = "65534"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?")
_MAX_ENV_BYTES = 64 * 1024
_KILL_GRACE = 2.0
_BASH = "/bin/bash"
_PRIORITY = (
    TerminationReason.CANCELLED,
    TerminationReason.OUTPUT_LIMIT,
    TerminationReason.TIMEOUT,
    TerminationReason.EXIT,
)


@dataclass(slots=True)
class _Step:
    reason: TerminationReason
    exit_code: int | None
    cpu_ns: int
    peak: int
    detail: str = ""
    artifact: bytes | None = None


class BwrapSandbox:
    """`Sandbox` over bubblewrap + cgroups; see the module docstring for the isolation it gives."""

    name = "bwrap"

    def __init__(
        self,
        catalog: RuntimeCatalog | None = None,
        *,
        caps: Limits = DEFAULT_CAPS,
        cgroups: CgroupDriver | None = None,
        bwrap_path: str | None = None,
        ro_paths: Sequence[str] = ("/usr", "/etc/alternatives"),
        host_uid: int = 65534,
    ) -> None:
        """Raises SandboxError when bwrap or usable cgroups (memory + pids) are missing here.

        `host_uid`: the unprivileged host uid (and gid) bwrap runs as when the executor is root;
        the sandbox's uid 65534 maps to it. Never 0: bwrap started as root maps the sandbox's uid
        to host root, whose processes pass the owner checks of /proc/sys (kernel.core_pattern!)
        without any capability.
        """
        if host_uid == 0:
            raise SandboxError("host_uid 0 would map the sandbox user to host root")
        prlimit, setpriv = shutil.which("prlimit"), shutil.which("setpriv")
        if prlimit is None or setpriv is None:
            raise SandboxError("prlimit and setpriv (util-linux) are needed to start bwrap")
        self._prlimit = prlimit
        self._drop: list[str] = []
        if os.geteuid() == 0:
            uid = str(host_uid)
            self._drop = [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
        self._catalog = catalog if catalog is not None else load_catalog()
        self._caps = caps
        found = bwrap_path or shutil.which("bwrap")
        if found is None:
            raise SandboxError("bubblewrap (bwrap) is not installed")
        self._bwrap = found
        driver = cgroups if cgroups is not None else CgroupDriver.detect()
        if driver is None:
            raise SandboxError("no usable cgroups (memory, pids): limits cannot be enforced")
        self._cgroups = driver
        self._ro_paths = tuple(ro_paths)
        self._resolved: dict[str, tuple[float, str | None]] = {}
        self._seccomp = filter_bpf()
        self._last_reap = 0.0
        self.reap_stale_cgroups()

    def reap_stale_cgroups(self) -> None:
        """Remove run cgroups an executor killed earlier left behind (at most once a minute)."""
        now = time.monotonic()
        if self._last_reap and now - self._last_reap < STALE_CGROUP_SECONDS:
            return
        self._last_reap = now
        self._cgroups.reap_stale(STALE_CGROUP_SECONDS)

    @property
    def cgroups(self) -> CgroupDriver:
        return self._cgroups

    # -- runtimes -------------------------------------------------------------------------------

    def _resolve(self, binary: str) -> str | None:
        """The host path of `binary` as the sandbox sees it (under a read-only path), or None.

        Remembered for RESOLVE_SECONDS: looked up on every run, the PATH walk and realpath cost
        a few percent of the executor's CPU, while toolchains come and go rarely."""
        now = time.monotonic()
        known = self._resolved.get(binary)
        if known is not None and now - known[0] < RESOLVE_SECONDS:
            return known[1]
        found = self._lookup(binary)
        self._resolved[binary] = (now, found)
        return found

    def _lookup(self, binary: str) -> str | None:
        path = shutil.which(binary, path=SANDBOX_PATH)
        if path is None:
            return None
        real = os.path.realpath(path)
        inside = any(real == root or real.startswith(root + "/") for root in self._ro_paths)
        return path if inside else None

    def _missing(self, spec: RuntimeSpec) -> list[str]:
        return [b for b in spec.host_binaries if self._resolve(b) is None]

    @cached_property
    def _infos(self) -> dict[str, RuntimeInfo]:
        infos = {}
        for spec in self._catalog:
            missing = self._missing(spec)
            if missing:
                reason = f"not installed on this host: {', '.join(missing)}"
                infos[spec.name] = RuntimeInfo(spec.name, spec.version, False, reason)
                continue
            infos[spec.name] = RuntimeInfo(spec.name, self._version(spec), True)
        return infos

    def _version(self, spec: RuntimeSpec) -> str:
        argv = list(spec.version_command)
        argv[0] = self._resolve(argv[0]) or argv[0]
        try:
            done = subprocess.run(
                argv, capture_output=True, timeout=10, check=False, env={"PATH": SANDBOX_PATH}
            )
        except (OSError, subprocess.SubprocessError):
            return spec.version
        match = _VERSION.search((done.stdout or done.stderr).decode(errors="replace"))
        return match.group(0) if match else spec.version

    def runtimes(self) -> list[RuntimeInfo]:
        return list(self._infos.values())

    async def close(self) -> None:
        return None

    # -- running --------------------------------------------------------------------------------

    async def run(
        self,
        request: RunRequest,
        *,
        on_output: OnOutput | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        self.reap_stale_cgroups()
        spec = self._catalog.get(request.runtime)
        missing = self._missing(spec)
        if missing:
            raise RuntimeUnavailable(
                f"runtime {spec.name!r} is unavailable: not installed on this host: "
                + ", ".join(missing)
            )
        limits = cap_limits(request.limits, self._caps)
        env = self._environment(spec, request.env)
        try:
            source = request.source.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SandboxError(f"source is not valid UTF-8 text: {exc}") from exc
        collector = OutputCollector(limits.max_output_bytes, on_output)
        source_path = f"{SOURCE_DIR}/{spec.source_file}"
        files = [(source_path, source, "0444")]
        started = time.monotonic()
        cpu_ns = peak = 0
        detail = ""
        if spec.compile is not None:
            artifact_out = f"{WORKDIR}/{spec.compile.artifact}"
            argv = spec.compile.argv(source=source_path, artifact=artifact_out, workdir=WORKDIR)
            step = await self._step(
                request, argv, spec.compile.limits, env, files, b"", collector, cancel, artifact_out
            )
            cpu_ns, peak = step.cpu_ns, step.peak
            if step.reason is not TerminationReason.EXIT or step.exit_code != 0:
                detail = f"compile step: {step.detail or 'failed'}"
                return self._result(collector, step, started, cpu_ns, peak, detail)
            assert step.artifact is not None
            artifact_path = f"{SOURCE_DIR}/{spec.compile.artifact}"
            files.append((artifact_path, step.artifact, "0555"))
        else:
            artifact_path = ""
        argv = spec.run_argv(source=source_path, artifact=artifact_path, workdir=WORKDIR)
        step = await self._step(request, argv, limits, env, files, request.stdin, collector, cancel)
        if _never_started(step, collector):
            # bwrap died before it started the code (seen rarely on a loaded host, with no
            # message): the code never ran, so one more attempt has no side effect to repeat.
            step = await self._step(
                request, argv, limits, env, files, request.stdin, collector, cancel
            )
        detail = step.detail
        return self._result(
            collector, step, started, cpu_ns + step.cpu_ns, max(peak, step.peak), detail
        )

    @staticmethod
    def _result(
        collector: OutputCollector, step: _Step, started: float, cpu_ns: int, peak: int, detail: str
    ) -> RunResult:
        return RunResult(
            termination_reason=step.reason,
            exit_code=step.exit_code,
            stdout=collector.stdout,
            stderr=collector.stderr,
            stdout_truncated=collector.stdout_truncated,
            stderr_truncated=collector.stderr_truncated,
            wall_time_ms=int((time.monotonic() - started) * 1000),
            cpu_time_ms=cpu_ns // 1_000_000,
            peak_memory_bytes=peak,
            detail=detail,
        )

    def _environment(self, spec: RuntimeSpec, extra: dict[str, str]) -> dict[str, str]:
        env = {"PATH": SANDBOX_PATH, "HOME": WORKDIR, "TMPDIR": WORKDIR, "LANG": "C.UTF-8"}
        env.update(spec.environment(workdir=WORKDIR))
        size = 0
        for key, value in extra.items():
            if not _ENV_NAME.match(key) or "\0" in value:
                raise SandboxError(f"invalid environment variable {key[:64]!r}")
            size += len(key) + len(value)
            env[key] = value
        if size > _MAX_ENV_BYTES:
            raise SandboxError(f"environment larger than {_MAX_ENV_BYTES} bytes")
        return env

    def _bwrap_argv(
        self,
        argv: list[str],
        limits: Limits,
        env: dict[str, str],
        files: list[tuple[str, int, str]],
        seccomp_fd: int,
        status_fd: int,
        gate: Gate,
    ) -> list[str]:
        args = [self._bwrap, "--unshare-all", "--unshare-user"]
        args += ["--disable-userns"]
        args += ["--die-with-parent", "--new-session"]
        for root in self._ro_paths:
            args += ["--ro-bind-try", root, root]
        for link in ("lib", "lib64", "bin", "sbin"):
            args += ["--symlink", f"usr/{link}", f"/{link}"]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", WORKDIR]
        for path, fd, perms in files:
            args += ["--perms", perms, "--ro-bind-data", str(fd), path]
        args += ["--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        args += ["--uid", _NOBODY, "--gid", _NOBODY, "--cap-drop", "ALL", "--hostname", "sandbox"]
        args += ["--seccomp", str(seccomp_fd), "--json-status-fd", str(status_fd)]
        return [*self._launcher(limits), *gate.command(_BASH, [*args, "--", *argv])]

    def _launcher(self, limits: Limits) -> list[str]:
        """prlimit (safe rlimits: core, nofile, fsize, cpu — never AS), then setpriv if root."""
        rlimits = {
            "core": 0,
            "nofile": limits.max_open_files,
            "fsize": limits.tmp_bytes,
            "cpu": math.ceil(limits.timeout_seconds) + 1,
        }
        return [
            self._prlimit,
            *(f"--{name}={value}:{value}" for name, value in rlimits.items()),
            "--",
            *self._drop,
        ]

    async def _step(
        self,
        request: RunRequest,
        argv: list[str],
        limits: Limits,
        env: dict[str, str],
        files: list[tuple[str, bytes, str]],
        stdin: bytes,
        collector: OutputCollector,
        cancel: CancelToken | None,
        artifact_out: str | None = None,
    ) -> _Step:
        """One bwrap process from spawn to cleanup; everything it started is gone on return."""
        if not argv[0].startswith("/"):
            argv = [self._resolve(argv[0]) or argv[0], *argv[1:]]
        name = "run-" + re.sub(r"[^A-Za-z0-9_-]", "", request.run_id)[:32]
        group = self._cgroups.create(f"{name}-{secrets.token_hex(4)}", limits)
        # The gated process moves into the group moments from now: have the kernel's wait for that
        # (an RCU grace period after an idle spell) start at once, overlapping the set-up below.
        asyncio.get_running_loop().run_in_executor(None, self._cgroups.warm_up)
        child_fds: list[int] = []
        readers: list[asyncio.Task[bytes | None]] = []
        gate: Gate | None = None
        try:
            gate = Gate()
            data_files = []
            for path, data, perms in files:
                child_fds.append(sealed_memfd("voidrunner-file", data))
                data_files.append((path, child_fds[-1], perms))
            seccomp_fd = sealed_memfd("voidrunner-seccomp", self._seccomp)
            stdin_fd = sealed_memfd("voidrunner-stdin", stdin)
            status_r, status_w = os.pipe2(os.O_CLOEXEC)
            child_fds += [seccomp_fd, stdin_fd, status_w]
            readers.append(asyncio.create_task(read_capped(status_r, 2**16)))
            if artifact_out is not None:
                art_r, art_w = os.pipe2(os.O_CLOEXEC)
                child_fds.append(art_w)
                readers.append(asyncio.create_task(read_capped(art_r, limits.tmp_bytes)))
                script = f'"$@" && exec cat -- "$0" >&{art_w}'
                argv = [_BASH, "-c", script, artifact_out, *argv]
            full = self._bwrap_argv(argv, limits, env, data_files, seccomp_fd, status_w, gate)
            return await self._supervise(
                full, limits, group, stdin_fd, child_fds, gate, collector, cancel, readers
            )
        finally:
            if gate is not None:
                gate.close()
            for fd in child_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            await group.kill_all()
            await group.remove()

    async def _supervise(
        self,
        argv: list[str],
        limits: Limits,
        group: RunCgroup,
        stdin_fd: int,
        child_fds: list[int],
        gate: Gate,
        collector: OutputCollector,
        cancel: CancelToken | None,
        readers: list[asyncio.Task[bytes | None]],
    ) -> _Step:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=stdin_fd,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=[*child_fds, gate.fd] if gate.fd is not None else child_fds,
                # Not the executor's environment (database URLs, tokens): bwrap's init is pid 1
                # in the sandbox and the code can read its /proc/1/environ (--clearenv only
                # clears the command's). Found by the abuse suite.
                env={},
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxError(f"cannot start bwrap: {exc}", retryable=True) from exc
        for fd in child_fds:  # the child holds its copies; ours would keep pipes open
            os.close(fd)
        child_fds.clear()
        gate.handed_over()
        assert proc.stdout is not None
        assert proc.stderr is not None
        pumps = [
            asyncio.create_task(collector.pump(StreamName.STDOUT, proc.stdout)),
            asyncio.create_task(collector.pump(StreamName.STDERR, proc.stderr)),
        ]
        exited = asyncio.create_task(proc.wait())
        stops: dict[asyncio.Task[object], TerminationReason] = {
            asyncio.create_task(asyncio.sleep(limits.timeout_seconds)): TerminationReason.TIMEOUT,
            asyncio.create_task(collector.wait_exceeded()): TerminationReason.OUTPUT_LIMIT,
        }
        if cancel is not None:
            stops[asyncio.create_task(cancel.wait())] = TerminationReason.CANCELLED
        try:
            await self._enter_cgroup(proc.pid, exited, group, gate)
            await asyncio.wait([exited, *stops], return_when=asyncio.FIRST_COMPLETED)
            fired = [why for task, why in stops.items() if task.done() and not task.cancelled()]
        finally:
            for task in stops:
                task.cancel()
            if proc.returncode is None:
                # Kill the namespace first and let bwrap reap its init and exit: killing bwrap
                # first would orphan its init to host pid 1 as a zombie.
                await group.kill_all(sparing=[proc.pid])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(exited), _KILL_GRACE)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await group.kill_all()
            await exited
            _, late = await asyncio.wait(pumps, timeout=_KILL_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        if collector.exceeded:  # the cap may be passed while draining after the exit
            fired.append(TerminationReason.OUTPUT_LIMIT)
        reason = min(fired, key=_PRIORITY.index, default=TerminationReason.EXIT)
        stats = group.stats()
        reported = await readers[0]
        artifact = await readers[1] if len(readers) > 1 else None
        return _classify(
            reason, exited.result(), stats, reported, artifact, len(readers) > 1, limits
        )

    @staticmethod
    async def _enter_cgroup(
        pid: int, exited: asyncio.Task[int], group: RunCgroup, gate: Gate
    ) -> None:
        """Move the gated process into the run's cgroup, then open the gate.

        If the move fails the gate stays shut: the command never starts, and the caller ends the
        waiting process.
        """
        try:
            await asyncio.to_thread(group.join, [pid])
        except OSError as exc:
            if exited.done():
                return
            raise SandboxError(
                f"cannot move the sandbox into its cgroup: {exc}", retryable=True
            ) from exc
        gate.open()


def _never_started(step: _Step, collector: OutputCollector) -> bool:
    return (
        step.reason is TerminationReason.SANDBOX_ERROR
        and step.detail.startswith(SETUP_FAILED)
        and collector.bytes_seen(StreamName.STDOUT) == 0
        and collector.bytes_seen(StreamName.STDERR) == 0
    )


def _classify(
    reason: TerminationReason,
    code: int,
    stats: CgroupStats,
    status: bytes | None,
    artifact: bytes | None,
    wants_artifact: bool,
    limits: Limits,
) -> _Step:
    """The step's outcome from how it was stopped, bwrap's status and the cgroup's accounting."""
    step = _Step(reason, None, stats.cpu_time_ns or 0, stats.peak_memory_bytes or 0)
    if reason is not TerminationReason.EXIT:
        step.detail = f"ended by the sandbox: {reason.value}"
    elif stats.oom_killed and code != 0:
        step.reason = TerminationReason.MEMORY_LIMIT
        step.exit_code = code if 0 <= code < 128 else None
        step.detail = f"out of memory (limit {limits.memory_bytes} bytes)"
    elif (error := bwrap_failure(status)) is not None:
        step.reason, step.detail = TerminationReason.SANDBOX_ERROR, f"{error} (bwrap status {code})"
    elif wants_artifact and code == 0 and artifact is None:
        step.reason = TerminationReason.SANDBOX_ERROR
        step.detail = f"build artifact larger than {limits.tmp_bytes} bytes"
    else:
        step.exit_code, step.artifact = code, artifact
    return step
