"""bwrap sandboxes are never host root: each run holds one unprivileged host uid of the executor's
range for all its steps, two runs never share one, and a uid is not leased again while a process
of it lives (issue 13, item 5).

Run as root (as `make run` may start the executor), since only root switches uids. The host side
is read from /proc: the owner ids of each sandboxed process (found by a marker in its environment)
and its uid_map as the host sees it. Inside, /proc/self/uid_map reads `65534 0 1`: its second
column is an id in the parent namespace, which is bwrap's own intermediate user namespace (bwrap
mounts the sandbox's /dev, devpts included, as root of a namespace of its own, then nests the
sandbox's in it), whose root is the run's host uid. The host's view of the same file shows that
host uid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sandbox_testing.conformance import marker
from voidrunner.contracts.runtimes import Limits, load_catalog
from voidrunner.executor.sandbox.bwrap import BwrapSandbox
from voidrunner.executor.sandbox.cgroups import CgroupDriver
from voidrunner.executor.sandbox.types import RunRequest, RunResult, TerminationReason
from voidrunner.executor.sandbox.uid_range import DEFAULT_UID_BASE, UidRange

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0, reason="only root switches sandboxes to other uids"),
]

# Ranges of these tests' own, away from the default one other sandboxes of this session lease.
PAIR = UidRange(DEFAULT_UID_BASE + 0x10000, 2)
SINGLE = UidRange(DEFAULT_UID_BASE + 0x10010, 1)
FAST = Limits(timeout_seconds=20.0, memory_bytes=256 * 1024 * 1024)
# A compiled runtime whose "compiler" is bash: a compile step and run steps in seconds, not Go's.
COMPILED = """
[runtimes.shc]
language = "shc"
version = "1"
version_command = ["bash", "--version"]
source_file = "main.sh"
run = ["{artifact}"]
host_binaries = ["bash"]
image = "none"

[runtimes.shc.compile]
command = ["bash", "-c", "sleep 0.4 && cp main.sh main && chmod 755 main"]
artifact = "main"
"""


@dataclass
class Seen:
    """A sandboxed process as the host saw it."""

    pid: int
    uids: tuple[int, ...]
    gids: tuple[int, ...]
    uid_map: list[str]
    first: float
    last: float = 0.0
    # Every command line it was seen with (a forked child execs its command moments later).
    argvs: set[tuple[str, ...]] = field(default_factory=set)


@dataclass
class Watcher:
    """Polls /proc for processes whose environment carries `mark` (the sandboxed program and its
    children: bwrap, its init and the spawning chain start with an empty environment)."""

    mark: str
    seen: dict[int, Seen] = field(default_factory=dict)

    def poll(self) -> None:
        needle = f"MARK={self.mark}".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
                if needle not in environ.split(b"\0"):
                    continue
                status = Path(f"/proc/{entry}/status").read_text().splitlines()
                uid_map = Path(f"/proc/{entry}/uid_map").read_text().split()
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            ids = {line.split(":")[0]: line.split()[1:] for line in status if ":" in line}
            now = time.monotonic()
            seen = self.seen.setdefault(
                int(entry),
                Seen(
                    int(entry),
                    tuple(int(x) for x in ids["Uid"]),
                    tuple(int(x) for x in ids["Gid"]),
                    uid_map,
                    now,
                ),
            )
            seen.last = now
            seen.argvs.add(tuple(argv))

    def span(self) -> tuple[float, float]:
        """When the run's processes were first and last seen."""
        return min(s.first for s in self.seen.values()), max(s.last for s in self.seen.values())

    def host_uids(self) -> set[int]:
        return {uid for s in self.seen.values() for uid in s.uids + s.gids}


@contextlib.asynccontextmanager
async def watching(*marks: str) -> AsyncIterator[list[Watcher]]:
    watchers = [Watcher(m) for m in marks]

    async def loop() -> None:
        while True:
            for w in watchers:
                w.poll()
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    try:
        yield watchers
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make_sandbox(uids: UidRange, tmp: Path, catalog_text: str = "") -> BwrapSandbox:
    override = None
    if catalog_text:
        override = tmp / "runtimes.toml"
        override.write_text(catalog_text)
    cgroups = CgroupDriver.detect(subdir=f"voidrunner-uids-{os.getpid()}-{secrets.token_hex(3)}")
    return BwrapSandbox(load_catalog(override), cgroups=cgroups, uids=uids)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[BwrapSandbox]:
    sandbox = make_sandbox(PAIR, tmp_path)
    yield sandbox
    for parent in sandbox.cgroups.parents.values():
        with contextlib.suppress(OSError):
            parent.rmdir()


def request(source: str, mark: str, runtime: str = "python") -> RunRequest:
    return RunRequest(
        runtime=runtime, source=source, env={"MARK": mark}, limits=FAST, run_id="uids"
    )


def check_unprivileged(watcher: Watcher, uids: UidRange) -> int:
    """The one host uid every process of the run had, checked from the host's side."""
    assert watcher.seen, "no sandboxed process was seen on the host"
    host = watcher.host_uids()
    assert len(host) == 1, f"one run, one host uid and gid: {host}"
    (uid,) = host
    assert uid != 0
    assert uid in uids, f"{uid} is not of the executor's range {uids}"
    for seen in watcher.seen.values():
        # As the host reads it: the sandbox's 65534 is this run's host uid, and nothing else.
        assert seen.uid_map == ["65534", str(uid), "1"], seen
    return uid


async def test_two_concurrent_runs_hold_two_distinct_unprivileged_uids(
    pair: BwrapSandbox,
) -> None:
    source = (
        "import time\n"
        "print(open('/proc/self/uid_map').read().split(), flush=True)\n"
        "time.sleep(0.8)\n"
    )
    marks = [marker(), marker()]
    async with watching(*marks) as watchers:
        results = await asyncio.gather(*(pair.run(request(source, m)) for m in marks))
    for result in results:
        assert result.termination_reason is TerminationReason.EXIT, result
        # Inside: one id mapped, the sandbox's 65534 (onto bwrap's intermediate namespace's
        # root, see the module docstring), never a range of host ids.
        assert result.stdout == b"['65534', '0', '1']\n", result
    first, second = (check_unprivileged(w, PAIR) for w in watchers)
    assert first != second, "two runs at once shared a host uid"
    # They really ran at the same time: each was seen while the other was alive.
    spans = [w.span() for w in watchers]
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    assert pair.uid_pool is not None
    assert pair.uid_pool.leased == {}, "a finished run kept its uid"


async def test_a_run_keeps_its_uid_through_compile_and_every_case(tmp_path: Path) -> None:
    sandbox = make_sandbox(PAIR, tmp_path, COMPILED)
    mark = marker()
    source = "#!/bin/bash\necho case; sleep 0.3\n"

    async def judge_like() -> list[RunResult]:
        prepared = await sandbox.prepare(request(source, mark, runtime="shc"))
        assert prepared.failed is None, prepared.failed
        return [await sandbox.execute(prepared, stdin=b"", args=()) for _ in range(3)]

    try:
        async with watching(mark) as (watcher,):
            results = await asyncio.create_task(judge_like())
    finally:
        for parent in sandbox.cgroups.parents.values():
            with contextlib.suppress(OSError):
                parent.rmdir()
    assert [r.stdout for r in results] == [b"case\n"] * 3, results
    check_unprivileged(watcher, PAIR)
    sleeps = [argv[:2] for s in watcher.seen.values() for argv in s.argvs if argv[0] == "sleep"]
    assert sleeps.count(("sleep", "0.4")) == 1, "the compile step was not seen"
    assert sleeps.count(("sleep", "0.3")) == 3, "the three cases were not all seen"


async def test_a_uid_is_not_leased_while_a_process_of_it_lives(tmp_path: Path) -> None:
    sandbox = make_sandbox(SINGLE, tmp_path)
    uid = SINGLE.base
    # A process under the range's only uid, as one left behind by an earlier run would be.
    squatter = subprocess.Popen(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "60"],
        env={"PATH": "/usr/bin:/bin"},
    )
    while Path(f"/proc/{squatter.pid}").stat().st_uid != uid:  # until setpriv has switched
        await asyncio.sleep(0.01)
    mark = marker()
    try:
        async with watching(mark) as (watcher,):
            source = "import time\nprint('ran')\ntime.sleep(0.5)"
            run = asyncio.create_task(sandbox.run(request(source, mark)))
            await asyncio.sleep(1.0)
            assert not run.done(), "a run started under a uid that still had a process"
            assert watcher.seen == {}
            squatter.kill()
            squatter.wait()
            result = await asyncio.wait_for(run, 30)
        assert result.termination_reason is TerminationReason.EXIT, result
        assert result.stdout == b"ran\n"
        assert check_unprivileged(watcher, SINGLE) == uid
    finally:
        squatter.kill()
        squatter.wait()
        for parent in sandbox.cgroups.parents.values():
            with contextlib.suppress(OSError):
                parent.rmdir()
