"""The job loop's wait for a free slot gives way to a stop (every slot busy must not delay it)."""

from __future__ import annotations

import asyncio
from typing import Any

from voidrunner.executor.consumer import ConsumerConfig, JobConsumer


def consumer(slots: int) -> JobConsumer:
    nothing: Any = None  # the slot logic touches neither NATS nor the runner
    config = ConsumerConfig(slots=slots, ack_wait=30, heartbeat=5, max_deliver=3, shutdown_grace=1)
    return JobConsumer(nothing, nothing, nothing, nothing, config)


async def test_a_stop_ends_the_wait_for_a_busy_slot() -> None:
    jobs = consumer(1)
    jobs._stopping = asyncio.Event()
    assert await jobs._free_slot() is True  # the one slot, now taken by a "job"
    waiting = asyncio.create_task(jobs._free_slot())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    jobs._stopping.set()
    assert await asyncio.wait_for(waiting, 1) is False
    # The slot was not leaked: once the job ends it is free again.
    jobs._slots.release()
    jobs._stopping.clear()
    assert await asyncio.wait_for(jobs._free_slot(), 1) is True
