"""The sandbox uid pool: one task per uid, given back when the task ends, never leased while a
process of it lives, and shared safely with other executors of the host through the lock file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from voidrunner.executor.sandbox.types import SandboxError
from voidrunner.executor.sandbox.uid_pool import UidPool, processes_of
from voidrunner.executor.sandbox.uid_range import DEFAULT_UID_BASE, UidRange

# Away from the ranges real sandboxes of this test session lease.
BASE = DEFAULT_UID_BASE + 0x20000
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root starts processes as a uid")


@pytest.fixture
def squatter() -> Iterator[subprocess.Popen[bytes]]:
    """A process running as BASE, like one an earlier run left behind."""
    proc = subprocess.Popen(
        ["setpriv", f"--reuid={BASE}", f"--regid={BASE}", "--clear-groups", "sleep", "60"],
        env={"PATH": "/usr/bin:/bin"},
    )
    try:
        for _ in range(500):  # until setpriv has switched to it
            if Path(f"/proc/{proc.pid}").stat().st_uid == BASE:
                break
            time.sleep(0.01)
        yield proc
    finally:
        proc.kill()
        proc.wait()


async def test_a_task_keeps_its_uid_and_gives_it_back_when_it_ends(tmp_path: Path) -> None:
    pool = UidPool(UidRange(BASE, 2), lock_path=tmp_path / "uids.lock")

    async def job() -> list[int]:
        first = await pool.lease()
        await asyncio.sleep(0.05)  # a step runs: the other job leases meanwhile
        return [first, await pool.lease()]

    first, second = await asyncio.gather(asyncio.create_task(job()), asyncio.create_task(job()))
    assert first[0] == first[1]
    assert second[0] == second[1]
    assert {first[0], second[0]} == {BASE, BASE + 1}
    await asyncio.sleep(0)  # the done callbacks
    assert pool.leased == {}


async def test_a_task_waits_for_a_uid_held_by_another_task(tmp_path: Path) -> None:
    pool = UidPool(UidRange(BASE, 1), lock_path=tmp_path / "uids.lock")
    release = asyncio.Event()

    async def holder() -> int:
        uid = await pool.lease()
        await release.wait()
        return uid

    held = asyncio.create_task(holder())
    await asyncio.sleep(0.05)
    waiter = asyncio.create_task(pool.lease())
    await asyncio.sleep(0.2)
    assert not waiter.done(), "two tasks leased one uid"
    release.set()
    assert await held == BASE
    assert await asyncio.wait_for(waiter, 5) == BASE


@root_only
async def test_a_uid_with_a_live_process_is_skipped_then_waited_for(
    tmp_path: Path, squatter: subprocess.Popen[bytes]
) -> None:
    assert processes_of(UidRange(BASE, 1)) == {BASE: [squatter.pid]}
    pool = UidPool(UidRange(BASE, 2), lock_path=tmp_path / "uids.lock", wait_seconds=0.3)
    assert pool.strays == {BASE: [squatter.pid]}
    assert await asyncio.create_task(pool.lease()) == BASE + 1
    only = UidPool(UidRange(BASE, 1), lock_path=tmp_path / "uids.lock", wait_seconds=0.3)
    with pytest.raises(
        SandboxError, match=f"1 still in use by processes .*{squatter.pid}"
    ) as caught:
        await asyncio.create_task(only.lease())
    assert caught.value.retryable


@root_only
async def test_zombies_do_not_hold_a_uid(tmp_path: Path) -> None:
    # bwrap leaves its sandbox init to the host's init, which may reap it seconds later.
    proc = subprocess.Popen(
        ["setpriv", f"--reuid={BASE}", f"--regid={BASE}", "--clear-groups", "true"]
    )
    try:
        for _ in range(200):
            state = Path(f"/proc/{proc.pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
            if state == b"Z":
                break
            await asyncio.sleep(0.01)
        assert state == b"Z"
        assert processes_of(UidRange(BASE, 1)) == {}
    finally:
        proc.wait()


LEASER = """
import asyncio, sys
from pathlib import Path
from voidrunner.executor.sandbox.uid_pool import UidPool
from voidrunner.executor.sandbox.uid_range import UidRange

async def main() -> None:
    pool = UidPool(UidRange({base}, {count}), lock_path=Path({lock!r}))
    print(await pool.lease(), flush=True)
    sys.stdin.read()

asyncio.run(main())
"""


async def test_executors_with_overlapping_ranges_take_turns(tmp_path: Path) -> None:
    lock = tmp_path / "uids.lock"
    script = textwrap.dedent(LEASER).format(base=BASE, count=2, lock=str(lock))
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as other:
        assert other.stdout is not None
        assert other.stdin is not None
        try:
            assert other.stdout.readline() == f"{BASE}\n".encode()
            # This executor's range overlaps the other's by one uid, which the other holds.
            pool = UidPool(UidRange(BASE + 1, 2), lock_path=lock, wait_seconds=0.3)
            assert pool.overlap == UidRange(BASE + 1, 1)
            narrow = UidPool(UidRange(BASE, 1), lock_path=lock, wait_seconds=0.3)
            with pytest.raises(SandboxError, match="1 leased by another executor"):
                await asyncio.create_task(narrow.lease())
            other.stdin.close()  # the other executor ends: its locks go with it
            other.wait(timeout=10)
            assert await asyncio.create_task(narrow.lease()) == BASE
        finally:
            other.kill()


def test_a_range_of_its_own_overlaps_nothing(tmp_path: Path) -> None:
    pool = UidPool(UidRange(BASE + 100, 4), lock_path=tmp_path / "uids.lock")
    assert pool.overlap is None
