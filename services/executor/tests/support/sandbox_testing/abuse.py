"""Support for the sandbox abuse suite (services/executor/tests/abuse): typed helpers shared by
the suite's modules, which are not a package themselves.

    result, verdicts = await abuse.attempts('attempt("chroot", lambda: check(libc.chroot(b"/")))')
    verdicts == {"chroot": "denied EPERM"}

`Abuse.run` checks every result for the executor's secret environment and the host canary file;
`Canary` is a host file whose content, mode and owner must survive every case.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from sandbox_testing.conformance import FAST, Backend, marker
from voidrunner.executor.sandbox.types import (
    CancelToken,
    OnOutput,
    RunRequest,
    RunResult,
    Sandbox,
    TerminationReason,
)

__all__ = [
    "NOBODY",
    "PRELUDE",
    "SECRET_ENV",
    "Abuse",
    "Canary",
    "HostSleeper",
    "Listeners",
    "reachable",
    "zombies",
]

SECRET_ENV = "VOIDRUNNER_DATABASE_URL"
NOBODY = 65534

# Prepended to `Abuse.attempts` bodies: `attempt(label, fn)` prints one verdict line per attempt,
# "ALLOWED <label> <value>" or "denied <label> <errno name>"; `check(ret)` turns a libc -1 into
# OSError.
PRELUDE = """
import ctypes, errno, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def check(ret):
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret
def attempt(label, fn):
    try:
        value = fn()
    except OSError as exc:
        print("denied", label, errno.errorcode.get(exc.errno, exc.errno), flush=True)
    except Exception as exc:
        print("denied", label, type(exc).__name__, flush=True)
    else:
        print("ALLOWED", label, repr(value)[:200].replace(chr(10), " "), flush=True)
"""


@dataclass
class Canary:
    """A secret file on the host, in a directory of its own, and what it looked like at first."""

    directory: Path
    path: Path
    token: str
    stat: os.stat_result = field(init=False)

    def __post_init__(self) -> None:
        self.stat = self.path.stat()

    def assert_untouched(self) -> None:
        now = self.path.lstat()
        assert self.path.read_text() == self.token, "the host canary's content changed"
        assert (now.st_mode, now.st_uid, now.st_gid) == (
            self.stat.st_mode,
            self.stat.st_uid,
            self.stat.st_gid,
        ), "the host canary's mode or owner changed"
        assert now.st_mtime_ns == self.stat.st_mtime_ns, "the host canary was written"
        assert sorted(p.name for p in self.directory.iterdir()) == [self.path.name]


class Abuse:
    """Runs attacks on one backend and checks every result for leaked host secrets."""

    def __init__(self, backend: Backend, canary: Canary, env_secret: str) -> None:
        self.backend = backend
        self.canary = canary
        self.env_secret = env_secret
        self.marks: list[str] = []

    @property
    def sandbox(self) -> Sandbox:
        return self.backend.sandbox

    @property
    def name(self) -> str:
        return self.backend.name

    async def run(
        self,
        source: str,
        *,
        runtime: str = "python",
        stdin: bytes = b"",
        env: dict[str, str] | None = None,
        on_output: OnOutput | None = None,
        cancel: CancelToken | None = None,
        **limits: float,
    ) -> RunResult:
        """Run `source` (with a marker in its environment) and check it leaked nothing."""
        mark = marker()
        self.marks.append(mark)
        request = RunRequest(
            runtime=runtime,
            source=source,
            stdin=stdin,
            env={"MARK": mark, **(env or {})},
            limits=replace(FAST, **limits),  # type: ignore[arg-type]
            run_id="abuse",
        )
        result = await self.sandbox.run(request, on_output=on_output, cancel=cancel)
        output = result.stdout + result.stderr
        assert self.env_secret.encode() not in output, "the executor's environment leaked"
        assert self.canary.token.encode() not in output, "the host canary file leaked"
        assert result.termination_reason is not TerminationReason.SANDBOX_ERROR, result
        return result

    async def attempts(self, body: str, **limits: float) -> tuple[RunResult, dict[str, str]]:
        """Run `body` after `PRELUDE`; returns the result and label → "ALLOWED …"/"denied …"."""
        result = await self.run(PRELUDE + body, **limits)  # type: ignore[arg-type]
        verdicts = {}
        for line in result.stdout.decode(errors="replace").splitlines():
            verdict, _, rest = line.partition(" ")
            label, _, detail = rest.partition(" ")
            if verdict in ("ALLOWED", "denied"):
                verdicts[label] = f"{verdict} {detail}"
        return result, verdicts


def zombies(parent: int | None = None) -> set[int]:
    """Zombie processes whose parent is `parent` (this process by default): a supervisor that
    does not reap what it started leaves them in the executor."""
    parent = os.getpid() if parent is None else parent
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as file:
                    fields = file.read().rpartition(b")")[2].split()
            except OSError:
                continue
            if len(fields) > 1 and fields[0] == b"Z" and int(fields[1]) == parent:
                found.add(int(entry))
    return found


@dataclass
class HostSleeper:
    """A host process running as the sandbox's host uid, which notes every SIGURG it gets."""

    proc: subprocess.Popen[bytes]
    mark: str

    def received(self, seconds: float = 0.3, *, enough: int = 0) -> int:
        """How many SIGURGs were noted within `seconds` (stopping early at `enough`)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        os.set_blocking(fd, False)
        deadline, data = time.monotonic() + seconds, b""
        while time.monotonic() < deadline and not (enough and data.count(b"GOT") >= enough):
            with contextlib.suppress(BlockingIOError):
                data += os.read(fd, 4096)
            time.sleep(0.02)
        return data.count(b"GOT")


@dataclass
class Listeners:
    """Host listeners on loopback; `targets` are (host, port) pairs the host itself reached."""

    targets: list[tuple[str, int]]
    servers: list[socket.socket]

    def accepted_nothing(self) -> bool:
        for server in self.servers:
            server.setblocking(False)
            try:
                conn, _ = server.accept()
            except BlockingIOError:
                continue
            conn.close()
            return False
        return True


def reachable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0
