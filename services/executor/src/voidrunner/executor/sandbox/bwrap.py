"""The bubblewrap backend: the default where no Docker engine is configured.

Each run (each step, for compiled runtimes) is one `bwrap` process with every namespace unshared
(no network: only `lo`), read-only /usr, a size-capped tmpfs at /tmp (the work dir), the source as a
read-only file at /sandbox/<source_file>, uid/gid 65534, no capabilities, a cleared environment and
the seccomp filter of seccomp.py. Resource limits come from a per-run cgroup (memory+swap, pids, CPU
quota), plus safe rlimits (core, nofile, fsize, cpu — never AS). bwrap is started behind a gate
(see _spawn.Gate): the executor moves the waiting process into the cgroup and only then lets it
become bwrap, so everything bwrap starts is created inside the cgroup, and nothing starts (or is
left waiting) if the executor dies first.
When the executor is root, bwrap itself is started as an unprivileged host uid: started as root,
its user namespace would map the sandbox's uid onto host root. Each run leases one uid of the
executor's range (uid_range.py, uid_pool.py: one per slot, as isolate has one per box) for all
its steps, so no two runs ever share a host uid (nor its per-user limits and accounting), and a
uid is leased again only once no process of it is left. util-linux's prlimit and setpriv set
the rlimits and drop the uid in front of bwrap, so spawning needs no pre-exec hook in the
executor (whose fork costs milliseconds; without a hook Python vforks). Setting rlimits from
outside would need CAP_SYS_RESOURCE, which containers rarely have. Started as another user, the
executor cannot switch uids: its sandboxes map onto that user. Either way bwrap needs
unprivileged user namespaces, which start-up checks (userns.py).

The host never writes into a directory the sandbox can write: the source, stdin, the seccomp program
and a compiled artifact travel in sealed memfds (`--ro-bind-data`, stdin), so no host code ever
follows a path the sandboxed code could have turned into a symlink. A compile step (Go) runs in its
own sandbox with the runtime's compile limits; its artifact comes back over a pipe (capped at the
compile tmp size) and goes into the run sandbox as /sandbox/<artifact>, read-only and executable.

Inside, the command is vr-launch (launcher.c, bound read-only like an artifact), which runs the
program as its child and reports over a pipe whether it exited or was killed by a signal: bwrap
itself reports a signal N as exit status 128+N. SIGSYS means the seccomp filter killed it
(security_violation); the pids cgroup's `max` event means it hit its process limit (pids_limit).
A compile step's output (stdout and stderr together) and duration are reported apart from the
run's; its failure is a compile_error, and the run's time, CPU and memory are the run's alone.

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
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path, PurePosixPath

from voidrunner.common.logs import get_logger
from voidrunner.contracts.execution import signal_name
from voidrunner.contracts.runtimes import RuntimeCatalog, RuntimeSpec, load_catalog
from voidrunner.executor.metrics import COMPILE_STEPS, RUN_STARTS
from voidrunner.executor.sandbox._spawn import (
    SETUP_FAILED,
    Gate,
    bwrap_failure,
    read_capped,
    sealed_memfd,
)
from voidrunner.executor.sandbox.build import (
    ARTIFACT_ROOT,
    Prepared,
    compile_failure,
    failed_build,
    paths_for,
    unpack_artifact,
    work_files,
)
from voidrunner.executor.sandbox.bwrap_warm import (
    LOADERS,
    WarmKey,
    WarmSandbox,
    WarmStarts,
    warm_message,
    widen_pipe,
)
from voidrunner.executor.sandbox.cgroups import CgroupDriver, CgroupStats, RunCgroup
from voidrunner.executor.sandbox.launcher import LaunchReport, launcher_binary, parse_report
from voidrunner.executor.sandbox.limits import cap_limits
from voidrunner.executor.sandbox.output import OutputCollector
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
    catalog_spec,
)
from voidrunner.executor.sandbox.uid_pool import LOCK_PATH, UidPool
from voidrunner.executor.sandbox.uid_range import DEFAULT_UID_BASE, UidRange, check_range
from voidrunner.executor.sandbox.userns import check_userns

__all__ = ["DEFAULT_SLOTS", "BwrapSandbox", "warm_uids"]

_log = get_logger("voidrunner.executor.sandbox")

# Run cgroups older than this with no process inside belong to a dead executor.
STALE_CGROUP_SECONDS = 60.0
RESOLVE_SECONDS = 30.0
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
WORKDIR = "/tmp"  # noqa: S108 - inside the sandbox: its own size-capped tmpfs  # nosec B108
LAUNCHER_PATH = "/sandbox/.vr-launch"
COMPILE_OUTPUT_BYTES = 256 * 1024
# Sandbox uids of a BwrapSandbox built without a range (the executor passes one per slot).
DEFAULT_SLOTS = 8
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


@dataclass(frozen=True, slots=True)
class _Fds:
    """What bwrap is told about a sandbox's descriptors (see BwrapSandbox._sandbox_fds)."""

    binds: list[tuple[str, str, int, str]]
    seccomp: int
    stdin: int
    status: int
    report: int


@dataclass(slots=True)
class _Step:
    reason: TerminationReason
    return_code: int | None
    cpu_ns: int
    peak: int
    detail: str = ""
    artifact: bytes | None = None
    signal: str | None = None


class BwrapSandbox:
    """`Sandbox` over bubblewrap + cgroups; see the module docstring for the isolation it gives."""

    name = "bwrap"

    def __init__(
        self,
        catalog: RuntimeCatalog | None = None,
        *,
        caps: Limits | None = None,
        cgroups: CgroupDriver | None = None,
        bwrap_path: str | None = None,
        ro_paths: Sequence[str] = ("/usr", "/etc/alternatives"),
        uids: UidRange | None = None,
        uid_lock: Path = LOCK_PATH,
        launcher: Path | None = None,
        compile_output_bytes: int = COMPILE_OUTPUT_BYTES,
        warm_pool: int = 0,
    ) -> None:
        """Raises SandboxError when bwrap, usable cgroups (memory + pids) or unprivileged user
        namespaces are missing here, or when `uids` clash with the host's.

        `launcher`: a prebuilt vr-launch (see launcher.py); compiled from source when None.
        `compile_output_bytes`: the most of a compile step's output that is kept.
        `uids`: the unprivileged host uids (each also the gid) runs lease when the executor is
        root, one per slot (DEFAULT_SLOTS from DEFAULT_UID_BASE when None); the sandbox's uid
        65534 maps to the run's. Never 0: bwrap started as root maps the sandbox's uid to host
        root, whose processes pass the owner checks of /proc/sys (kernel.core_pattern!) without
        any capability. `uid_lock`: the lock file every executor of this host shares.
        `warm_pool`: sandboxes kept started per runtime that allows warm starts (bwrap_warm.py;
        `start()` begins filling it). Each holds a uid: `uids` must count them besides the slots
        (warm_uids() says how many).
        """
        prlimit, setpriv = shutil.which("prlimit"), shutil.which("setpriv")
        if prlimit is None or setpriv is None:
            raise SandboxError("prlimit and setpriv (util-linux) are needed to start bwrap")
        self._prlimit = prlimit
        self._setpriv = setpriv
        found = bwrap_path or shutil.which("bwrap")
        if found is None:
            raise SandboxError("bubblewrap (bwrap) is not installed")
        self._bwrap = found
        self._pool: UidPool | None = None
        self._warm_uids: UidPool | None = None
        probe, who = [found], f"uid {os.geteuid()}"
        self._catalog = catalog if catalog is not None else load_catalog()
        if os.geteuid() == 0:
            extra = warm_uids(self._catalog, warm_pool)
            if uids is None:
                uids = UidRange(DEFAULT_UID_BASE, DEFAULT_SLOTS + extra)
            check_range(uids)
            if extra and uids.count <= extra:
                raise SandboxError(
                    f"sandbox uids {uids} leave none for runs besides {extra} warm sandboxes"
                )
            # Runs lease from the front of the range, warm sandboxes from its end: a waiting
            # sandbox never holds a uid a run is waiting for.
            runs = UidRange(uids.base, uids.count - extra)
            self._pool = UidPool(runs, lock_path=uid_lock)
            _warn_about(self._pool)
            if extra:
                spare = UidRange(uids.base + runs.count, extra)
                self._warm_uids = UidPool(spare, lock_path=uid_lock)
            probe, who = [*self._drop(uids.base), found], f"uid {uids.base} (of {uids})"
        check_userns(probe, as_uid=who)
        self._caps = caps if caps is not None else self._catalog.caps
        driver = cgroups if cgroups is not None else CgroupDriver.detect()
        if driver is None:
            raise SandboxError("no usable cgroups (memory, pids): limits cannot be enforced")
        self._cgroups = driver
        driver.prepare()
        self._ro_paths = tuple(ro_paths)
        self._resolved: dict[str, tuple[float, str | None]] = {}
        self._seccomp = filter_bpf()
        self._vr_launch = launcher_binary(launcher)
        self._compile_output_bytes = compile_output_bytes
        self._last_reap = 0.0
        self.reap_stale_cgroups()
        self._warm = WarmStarts(warm_pool, self._start_warm)

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

    @property
    def uid_pool(self) -> UidPool | None:
        """The sandbox uids runs lease, or None when the executor is not root (no uid switch)."""
        return self._pool

    def _drop(self, uid: int | None) -> list[str]:
        """setpriv down to `uid` (and its gid, no supplementary groups), in front of bwrap."""
        if uid is None:
            return []
        return [self._setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]

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
                reason = spec.missing_reason(missing)
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

    async def start(self) -> None:
        """Start filling the warm pool for every runtime that allows it, at its default limits.

        Creates tasks and returns: nothing is started before the caller's next await."""
        if self._warm.size == 0:
            return
        for spec in self._catalog:
            if spec.warm_start in LOADERS and self._infos[spec.name].available:
                limits = cap_limits(spec.default_limits, self._caps)
                self._warm.watch((spec.name, limits.tmp_bytes))

    async def wait_warm(self, seconds: float) -> bool:
        """Wait until the warm pool is full (tests, benchmarks)."""
        return await self._warm.wait_ready(seconds)

    @property
    def warm(self) -> WarmStarts:
        """The sandboxes started ahead of demand."""
        return self._warm

    async def close(self) -> None:
        await self._warm.close()

    # -- running --------------------------------------------------------------------------------

    async def run(
        self,
        request: RunRequest,
        *,
        on_output: OnOutput | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        prepared = await self.prepare(request, cancel=cancel)
        if prepared.failed is not None:
            return prepared.failed
        return await self.execute(
            prepared, stdin=request.stdin, args=request.args, on_output=on_output, cancel=cancel
        )

    async def prepare(self, request: RunRequest, *, cancel: CancelToken | None = None) -> Prepared:
        self.reap_stale_cgroups()
        spec = catalog_spec(self._catalog, request.runtime)
        missing = self._missing(spec)
        if missing:
            raise RuntimeUnavailable(
                f"runtime {spec.name!r} is unavailable: {spec.missing_reason(missing)}"
            )
        files, entry = work_files(request, spec)
        artifact = f"{ARTIFACT_ROOT}/{spec.compile.artifact}" if spec.compile else ""
        prepared = Prepared(
            request=request,
            spec=spec,
            limits=cap_limits(request.limits, self._caps),
            env=self._environment(spec, request.env),
            files=files,
            paths=paths_for(spec, files, entry, WORKDIR, artifact),
        )
        if spec.compile is not None:
            await self._compile(prepared, cancel)
        return prepared

    async def _compile(self, prepared: Prepared, cancel: CancelToken | None) -> None:
        """The compile step in its own sandbox, with the runtime's (operator's) compile limits."""
        spec = prepared.spec
        assert spec.compile is not None
        limits = cap_limits(spec.compile.limits, self._caps)
        out = f"{WORKDIR}/{spec.compile.artifact}"
        argv = spec.compile.argv(replace(prepared.paths, artifact=out).within(limits))
        # The compiler's stdout and stderr together, in order: one text for the user.
        output = OutputCollector(self._compile_output_bytes, enforce=False)
        started = time.monotonic()
        COMPILE_STEPS.labels(self.name, spec.name).inc()
        step = await self._step(
            prepared.request.run_id,
            argv,
            limits,
            prepared.env,
            _work(prepared),
            [],
            b"",
            output,
            cancel,
            out,
            spec.host_paths,
        )
        prepared.compile_output = output.stdout + output.stderr
        prepared.compile_time_ms = int((time.monotonic() - started) * 1000)
        if step.reason is TerminationReason.EXIT and step.return_code == 0:
            try:
                prepared.artifact = unpack_artifact(
                    step.artifact or b"", max_bytes=limits.tmp_bytes
                )
                return
            except SandboxError as exc:
                step.reason, step.detail = TerminationReason.SANDBOX_ERROR, str(exc)
        reason, detail = compile_failure(
            step.reason, step.return_code, step.signal, step.detail, limits
        )
        prepared.failed = failed_build(
            reason, detail, prepared.compile_output, prepared.compile_time_ms
        )

    async def execute(
        self,
        prepared: Prepared,
        *,
        stdin: bytes,
        args: Sequence[str],
        on_output: OnOutput | None = None,
        cancel: CancelToken | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        run_limits = cap_limits(limits, self._caps) if limits is not None else prepared.limits
        collector = OutputCollector(run_limits.max_output_bytes, on_output)
        paths = prepared.paths.within(run_limits)
        argv = [*prepared.spec.run_argv(paths), *args]
        readonly = [
            (f"{ARTIFACT_ROOT}/{a.path}", a.data, "0555" if a.executable else "0444")
            for a in prepared.artifact
        ]
        work = _work(prepared)
        run_id = prepared.request.run_id
        for _attempt in range(2):
            started = time.monotonic()
            claimed = self._claim_warm(prepared, run_limits, argv, work, stdin)
            if claimed is not None:
                warm = await self._run_warm(*claimed, run_limits, collector, cancel)
                if warm is not None:
                    step = warm
                    break
            RUN_STARTS.labels(self.name, "cold").inc()
            step = await self._step(
                run_id,
                argv,
                run_limits,
                prepared.env,
                work,
                readonly,
                stdin,
                collector,
                cancel,
                host_paths=prepared.spec.host_paths,
            )
            # bwrap died before it started the code (seen rarely on a loaded host, with no
            # message): the code never ran, so one more attempt has no side effect to repeat.
            if not _never_started(step, collector):
                break
        return prepared.finish(_result(collector, step, started))

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
        binds: list[tuple[str, str, int, str]],
        seccomp_fd: int,
        status_fd: int,
        gate: Gate,
        uid: int | None,
        host_paths: Sequence[str] = (),
    ) -> list[str]:
        args = [self._bwrap, "--unshare-all", "--unshare-user"]
        args += ["--disable-userns"]
        args += ["--die-with-parent", "--new-session"]
        for root in (*self._ro_paths, *host_paths):
            args += ["--ro-bind-try", root, root]
        for link in ("lib", "lib64", "bin", "sbin"):
            args += ["--symlink", f"usr/{link}", f"/{link}"]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", WORKDIR]
        made = {WORKDIR}
        for option, path, fd, perms in binds:
            # A file in a subdirectory of the (fresh, empty) work dir needs its directories.
            for parent in reversed(PurePosixPath(path).parents):
                if str(parent).startswith(WORKDIR + "/") and str(parent) not in made:
                    made.add(str(parent))
                    args += ["--dir", str(parent)]
            args += ["--perms", perms, option, str(fd), path]
        args += ["--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        args += ["--uid", _NOBODY, "--gid", _NOBODY, "--cap-drop", "ALL", "--hostname", "sandbox"]
        args += ["--seccomp", str(seccomp_fd), "--json-status-fd", str(status_fd)]
        return [*self._launcher(limits, uid), *gate.command(_BASH, [*args, "--", *argv])]

    def _launcher(self, limits: Limits, uid: int | None) -> list[str]:
        """prlimit (safe rlimits: core, nofile, fsize, cpu — never AS), then setpriv if root."""
        return [
            self._prlimit,
            *(f"--{name}={value}:{value}" for name, value in _rlimits(limits).items()),
            "--",
            *self._drop(uid),
        ]

    async def _step(
        self,
        run_id: str,
        argv: list[str],
        limits: Limits,
        env: dict[str, str],
        work: list[tuple[str, bytes]],
        readonly: list[tuple[str, bytes, str]],
        stdin: bytes,
        collector: OutputCollector,
        cancel: CancelToken | None,
        artifact_out: str | None = None,
        host_paths: Sequence[str] = (),
    ) -> _Step:
        """One bwrap process from spawn to cleanup; everything it started is gone on return.

        `work` files are writable copies in the work dir; `readonly` ones (path, data, mode)
        are bound read-only, like the launcher itself; `host_paths` are more host directories
        bound read-only where they exist (a runtime's own, like the JDK's /etc/java-17-openjdk)."""
        if not argv[0].startswith("/"):
            argv = [self._resolve(argv[0]) or argv[0], *argv[1:]]
        # Before the cgroup: a wait for a free uid holds nothing.
        uid = await self._pool.lease() if self._pool is not None else None
        name = "run-" + re.sub(r"[^A-Za-z0-9_-]", "", run_id)[:32]
        group = self._cgroups.create(f"{name}-{secrets.token_hex(4)}", limits)
        # The gated process moves into the group moments from now: have the kernel's wait for that
        # (an RCU grace period after an idle spell) start at once, overlapping the set-up below.
        asyncio.get_running_loop().run_in_executor(None, self._cgroups.warm_up)
        child_fds: list[int] = []
        readers: list[asyncio.Task[bytes | None]] = []
        gate: Gate | None = None
        try:
            gate = Gate()
            fds = self._sandbox_fds(work, readonly, stdin, child_fds, readers)
            if artifact_out is not None:
                art_r, art_w = os.pipe2(os.O_CLOEXEC)
                child_fds.append(art_w)
                readers.append(asyncio.create_task(read_capped(art_r, limits.tmp_bytes)))
                # The build's stdout and stderr as one text, then the artifact (a file or a
                # directory) as a tar stream over its pipe; tar stores links as links, which
                # unpack_artifact refuses: nothing is followed.
                script = (
                    f'exec 2>&1; "$@" && cd -- "${{0%/*}}" && exec tar -cf - -- "${{0##*/}}" '
                    f">&{art_w}"
                )
                argv = [_BASH, "-c", script, artifact_out, *argv]
            argv = [LAUNCHER_PATH, str(fds.report), *argv]
            full = self._bwrap_argv(
                argv, limits, env, fds.binds, fds.seccomp, fds.status, gate, uid, host_paths
            )
            proc, exited = await self._spawn(full, group, fds.stdin, child_fds, gate)
            return await self._supervise(proc, exited, limits, group, collector, cancel, readers)
        finally:
            await _tear_down(gate, child_fds, readers, group)

    def _sandbox_fds(
        self,
        work: list[tuple[str, bytes]],
        readonly: list[tuple[str, bytes, str]],
        stdin: bytes,
        child_fds: list[int],
        readers: list[asyncio.Task[bytes | None]],
    ) -> _Fds:
        """The descriptors a sandbox starts with (each added to `child_fds`), and the readers of
        bwrap's status and the launcher's report (added to `readers`, in that order)."""
        binds: list[tuple[str, str, int, str]] = []
        for path, data in work:
            child_fds.append(sealed_memfd("voidrunner-file", data))
            binds.append(("--file", path, child_fds[-1], "0644"))
        for path, data, perms in [(LAUNCHER_PATH, self._vr_launch, "0555"), *readonly]:
            child_fds.append(sealed_memfd("voidrunner-file", data))
            binds.append(("--ro-bind-data", path, child_fds[-1], perms))
        seccomp_fd = sealed_memfd("voidrunner-seccomp", self._seccomp)
        stdin_fd = sealed_memfd("voidrunner-stdin", stdin)
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        child_fds += [seccomp_fd, stdin_fd, status_w]
        readers.append(asyncio.create_task(read_capped(status_r, 2**16)))
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        child_fds.append(report_w)
        readers.append(asyncio.create_task(read_capped(report_r, 256)))
        return _Fds(binds, seccomp_fd, stdin_fd, status_w, report_w)

    async def _spawn(
        self,
        argv: list[str],
        group: RunCgroup,
        stdin_fd: int,
        child_fds: list[int],
        gate: Gate,
    ) -> tuple[asyncio.subprocess.Process, asyncio.Task[int]]:
        """Start `argv` behind its gate, move it into `group`, then open the gate.

        On return the process runs inside its cgroup; if anything fails first it is ended."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=stdin_fd,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                # stdin goes in as fd 0 only: passed as well, the program would hold a second copy.
                pass_fds=[fd for fd in [*child_fds, gate.fd] if fd is not None and fd != stdin_fd],
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
        exited = asyncio.create_task(proc.wait())
        try:
            await self._enter_cgroup(proc.pid, exited, group, gate)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # still behind its gate, outside the cgroup
            await exited
            raise
        return proc, exited

    # -- warm starts (bwrap_warm.py) -----------------------------------------------------------

    async def _start_warm(self, key: WarmKey) -> WarmSandbox:
        """One warm sandbox for `key`, started by a keeper task of its own (which holds its uid
        lease until the sandbox is released and gone)."""
        ready: asyncio.Future[WarmSandbox] = asyncio.get_running_loop().create_future()
        keeper = asyncio.create_task(self._keep_warm(key, ready), name=f"bwrap-warm-{key[0]}")
        try:
            sandbox = await asyncio.shield(ready)
        except asyncio.CancelledError:
            keeper.cancel()
            raise
        sandbox.keeper = keeper
        return sandbox

    async def _keep_warm(self, key: WarmKey, ready: asyncio.Future[WarmSandbox]) -> None:
        spec = self._catalog.get(key[0])
        # The most any run may ask for (tmp excepted: the key's); a claim lowers them.
        limits = replace(self._caps, tmp_bytes=key[1])
        child_fds: list[int] = []
        readers: list[asyncio.Task[bytes | None]] = []
        gate: Gate | None = None
        group: RunCgroup | None = None
        sandbox: WarmSandbox | None = None
        control_w = -1
        try:
            uid = await self._warm_uids.lease() if self._warm_uids is not None else None
            group = self._cgroups.create(f"run-warm-{secrets.token_hex(6)}", limits)
            asyncio.get_running_loop().run_in_executor(None, self._cgroups.warm_up)
            gate = Gate()
            fds = self._sandbox_fds([], [], b"", child_fds, readers)
            control_r, control_w = os.pipe2(os.O_CLOEXEC)
            child_fds.append(control_r)
            capacity = widen_pipe(control_w)
            interpreter = [self._resolve(spec.run[0]) or spec.run[0], *spec.run[1:-1]]
            loader = LOADERS[spec.warm_start]
            argv = [LAUNCHER_PATH, str(fds.report), *interpreter, "-c", loader, str(control_r)]
            env = self._environment(spec, {})
            full = self._bwrap_argv(
                argv, limits, env, fds.binds, fds.seccomp, fds.status, gate, uid, spec.host_paths
            )
            proc, exited = await self._spawn(full, group, fds.stdin, child_fds, gate)
            sandbox = WarmSandbox(proc, exited, group, readers, control_w, capacity)
            control_w = -1
            if ready.done():  # the pool gave up on it meanwhile
                return
            ready.set_result(sandbox)
            await sandbox.released.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                _log.warning("warm sandbox: keeper failed", error=str(exc))
        finally:
            if not ready.done():
                ready.cancel()
            if sandbox is not None:
                sandbox.close_control()  # never claimed: its loader reads end-of-file, exits
                await _stop(sandbox.proc, sandbox.exited, sandbox.group)
            await _tear_down(gate, [*child_fds, control_w], readers, group)

    def _claim_warm(
        self,
        prepared: Prepared,
        limits: Limits,
        argv: list[str],
        work: list[tuple[str, bytes]],
        stdin: bytes,
    ) -> tuple[WarmSandbox, bytes] | None:
        """A warm sandbox for this run and the message that starts it, or None (start cold).

        `argv` is the run's whole command line: the interpreter and its flags are the warm
        sandbox's already, the rest (the entry file, then the run's arguments) goes to it."""
        spec = prepared.spec
        if not spec.warm_start or prepared.artifact or self._warm.size == 0:
            return None
        sandbox = self._warm.take((spec.name, limits.tmp_bytes))
        if sandbox is None:
            return None
        program = argv[len(spec.run) - 1 :]
        message = warm_message(work, prepared.env, program, _rlimits(limits), stdin)
        if not sandbox.fits(message):
            self._warm.end(sandbox)
            return None
        return sandbox, message

    async def _run_warm(
        self,
        sandbox: WarmSandbox,
        message: bytes,
        limits: Limits,
        collector: OutputCollector,
        cancel: CancelToken | None,
    ) -> _Step | None:
        """The run in a warm sandbox; None when it could not be handed over (start cold)."""
        try:
            try:
                self._cgroups.apply(sandbox.group, limits)
                sandbox.send(message)
            except (OSError, SandboxError) as exc:
                _log.warning("warm sandbox: hand-over failed, starting cold", error=str(exc))
                return None
            RUN_STARTS.labels(self.name, "warm").inc()
            return await self._supervise(
                sandbox.proc,
                sandbox.exited,
                limits,
                sandbox.group,
                collector,
                cancel,
                sandbox.readers,
            )
        finally:
            sandbox.release()

    async def _supervise(
        self,
        proc: asyncio.subprocess.Process,
        exited: asyncio.Task[int],
        limits: Limits,
        group: RunCgroup,
        collector: OutputCollector,
        cancel: CancelToken | None,
        readers: list[asyncio.Task[bytes | None]],
    ) -> _Step:
        """From a started program to its classified end; nothing of it runs on return."""
        assert proc.stdout is not None
        assert proc.stderr is not None
        pumps = [
            asyncio.create_task(collector.pump(StreamName.STDOUT, proc.stdout)),
            asyncio.create_task(collector.pump(StreamName.STDERR, proc.stderr)),
        ]
        stops: dict[asyncio.Task[object], TerminationReason] = {
            asyncio.create_task(asyncio.sleep(limits.timeout_seconds)): TerminationReason.TIMEOUT,
            asyncio.create_task(collector.wait_exceeded()): TerminationReason.OUTPUT_LIMIT,
        }
        if cancel is not None:
            stops[asyncio.create_task(cancel.wait())] = TerminationReason.CANCELLED
        try:
            await asyncio.wait([exited, *stops], return_when=asyncio.FIRST_COMPLETED)
            fired = [why for task, why in stops.items() if task.done() and not task.cancelled()]
        finally:
            for task in stops:
                task.cancel()
            await _stop(proc, exited, group)
            _, late = await asyncio.wait(pumps, timeout=_KILL_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        if collector.exceeded:  # the cap may be passed while draining after the exit
            fired.append(TerminationReason.OUTPUT_LIMIT)
        reason = min(fired, key=_PRIORITY.index, default=TerminationReason.EXIT)
        stats = group.stats()
        reported = await readers[0]
        launch = parse_report(await readers[1])
        artifact = await readers[2] if len(readers) > 2 else None
        return _classify(
            reason, exited.result(), stats, reported, launch, artifact, len(readers) > 2, limits
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


def warm_uids(catalog: RuntimeCatalog, warm_pool: int) -> int:
    """How many sandbox uids a warm pool of `warm_pool` per runtime holds (one per sandbox)."""
    return warm_pool * sum(1 for spec in catalog if spec.warm_start in LOADERS)


def _rlimits(limits: Limits) -> dict[str, int]:
    """The rlimits of a run's processes (safe ones only: never AS)."""
    return {
        "core": 0,
        "nofile": limits.max_open_files,
        "fsize": limits.tmp_bytes,
        "cpu": math.ceil(limits.timeout_seconds) + 1,
    }


async def _tear_down(
    gate: Gate | None,
    child_fds: list[int],
    readers: list[asyncio.Task[bytes | None]],
    group: RunCgroup | None,
) -> None:
    """What a sandbox held once it is over: its gate, the descriptors not handed over, its
    pipes' readers and its cgroup (emptied, then removed)."""
    if gate is not None:
        gate.close()
    for fd in child_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    if group is not None:
        await group.kill_all()
        await group.remove()


async def _stop(
    proc: asyncio.subprocess.Process, exited: asyncio.Task[int], group: RunCgroup
) -> None:
    """End a bwrap process and everything in its cgroup, and reap it."""
    if proc.returncode is None:
        # Kill the namespace first and let bwrap reap its init and exit: killing bwrap first
        # would orphan its init to host pid 1 as a zombie.
        await group.kill_all(sparing=[proc.pid])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), _KILL_GRACE)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await group.kill_all()
    await exited


def _warn_about(pool: UidPool) -> None:
    """Log what makes this executor's uid range less than its own (never less safe)."""
    if pool.overlap is not None:
        _log.warning(
            "sandbox uids overlap another executor's on this host: they take turns (never "
            "sharing one), so each gets fewer than its slots; give each executor its own "
            "VOIDRUNNER_SANDBOX_UID_BASE",
            uids=str(pool.uids),
            overlap=str(pool.overlap),
        )
    if pool.strays:
        _log.warning(
            "processes run as sandbox uids of this executor: those uids wait until they end",
            pids={uid: pids[:5] for uid, pids in pool.strays.items()},
        )


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
    launch: LaunchReport | None,
    artifact: bytes | None,
    wants_artifact: bool,
    limits: Limits,
) -> _Step:
    """The step's outcome from how it was stopped, bwrap's status, the launcher's report and the
    cgroup's accounting."""
    step = _Step(reason, None, stats.cpu_time_ns or 0, stats.peak_memory_bytes or 0)
    if reason is not TerminationReason.EXIT:
        # We ended it: SIGKILL to everything in its cgroup.
        step.detail, step.signal = f"ended by the sandbox: {reason.value}", "SIGKILL"
        return step
    if launch is not None and launch.signal is not None:
        step.signal = signal_name(launch.signal)
    elif launch is not None:
        step.return_code = launch.return_code
    if stats.oom_killed and code != 0:
        step.reason = TerminationReason.MEMORY_LIMIT
        step.signal = step.signal or "SIGKILL"
        step.detail = f"out of memory (limit {limits.memory_bytes} bytes)"
    elif (error := bwrap_failure(status)) is not None:
        step.reason, step.detail = TerminationReason.SANDBOX_ERROR, f"{error} (bwrap status {code})"
        step.return_code = step.signal = None
    elif wants_artifact and code == 0 and artifact is None:
        step.reason = TerminationReason.SANDBOX_ERROR
        step.detail = f"build artifact larger than {limits.tmp_bytes} bytes"
    elif launch is None:
        # The program killed its launcher (or the launcher failed): bwrap's status is all
        # there is, and 128+N cannot be told from a real exit status.
        step.return_code, step.artifact = code, artifact
    elif step.signal == "SIGSYS":
        step.reason = TerminationReason.SECURITY_VIOLATION
        step.detail = "killed by the sandbox's seccomp filter (a forbidden system call)"
    elif stats.pids_limited:
        step.reason = TerminationReason.PIDS_LIMIT
        step.detail = f"reached the limit of {limits.pids} processes"
    else:
        step.artifact = artifact
    return step


def _work(prepared: Prepared) -> list[tuple[str, bytes]]:
    return [(f"{WORKDIR}/{f.path}", f.data) for f in prepared.files]


def _result(collector: OutputCollector, step: _Step, started: float) -> RunResult:
    """The run's result from its (last) run step."""
    return RunResult(
        termination_reason=step.reason,
        return_code=step.return_code,
        stdout=collector.stdout,
        stderr=collector.stderr,
        stdout_truncated=collector.stdout_truncated,
        stderr_truncated=collector.stderr_truncated,
        execution_time_ms=int((time.monotonic() - started) * 1000),
        cpu_time_ms=step.cpu_ns // 1_000_000,
        memory_usage_bytes=step.peak,
        termination_detail=step.detail,
        exit_signal=step.signal,
    )
