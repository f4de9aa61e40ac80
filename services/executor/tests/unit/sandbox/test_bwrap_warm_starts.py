"""The bwrap backend's warm starts with fake sandboxes: a taken sandbox's replacement starts
once the taken one has ended, not while its run goes on (a start competes with that run)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from voidrunner.executor.sandbox.bwrap_warm import WarmKey, WarmSandbox, WarmStarts

KEY: WarmKey = ("python", 64 * 1024 * 1024)


class FakeProcess:
    returncode: int | None = None


def sandboxes() -> tuple[list[WarmSandbox], Any]:
    spawned: list[WarmSandbox] = []

    async def spawn(_key: WarmKey) -> WarmSandbox:
        loop = asyncio.get_running_loop()
        sandbox = WarmSandbox(
            cast(Any, FakeProcess()), cast(Any, loop.create_future()), cast(Any, None), [], -1, 0
        )
        sandbox.keeper = asyncio.create_task(sandbox.released.wait())  # type: ignore[arg-type]
        spawned.append(sandbox)
        return sandbox

    return spawned, spawn


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_taken_sandbox_is_replaced_once_it_has_ended() -> None:
    spawned, spawn = sandboxes()
    starts = WarmStarts(1, spawn)
    starts.watch(KEY)
    assert await starts.wait_ready(2)
    taken = starts.take(KEY)
    assert taken is spawned[0]
    assert starts.take(KEY) is None  # the run goes on: no replacement yet
    await settle()
    assert len(spawned) == 1
    taken.release()
    await taken.ended()
    assert await starts.wait_ready(2)
    assert len(spawned) == 2
    assert starts.take(KEY) is spawned[1]
    spawned[1].release()  # its run is over too: close() need not wait for its keeper
    await starts.close()


async def test_a_sandbox_that_died_waiting_is_replaced() -> None:
    spawned, spawn = sandboxes()
    starts = WarmStarts(1, spawn)
    starts.watch(KEY)
    assert await starts.wait_ready(2)
    cast(Any, spawned[0].proc).returncode = -9  # killed from outside while it waited
    assert starts.take(KEY) is None  # not handed out: ended, and the run starts cold
    assert await starts.wait_ready(2)
    assert starts.take(KEY) is spawned[1]
    spawned[1].release()
    await starts.close()
