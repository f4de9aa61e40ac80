"""The outbox relay's loop: a wake-up during a drain starts another round at once."""

from __future__ import annotations

import asyncio
from typing import Any

from voidrunner.tasks.relay import OutboxRelay


class _Outbox:
    channel = "unused"

    def __init__(self) -> None:
        self.calls = 0
        self.in_first = asyncio.Event()
        self.release_first = asyncio.Event()
        self.second = asyncio.Event()

    async def relay_once(self, _publish: Any, _limit: int) -> int:
        self.calls += 1
        if self.calls == 1:  # a drain in progress while new work is committed
            self.in_first.set()
            await self.release_first.wait()
        else:
            self.second.set()
        return 0


class _Publisher:
    def ready(self) -> bool:
        return True

    async def publish(self, _entry: Any) -> None:
        return None


class _Listener:
    def is_closed(self) -> bool:
        return False

    async def close(self) -> None:
        return None


async def test_a_wake_up_during_a_drain_is_not_lost_until_the_next_poll() -> None:
    outbox = _Outbox()
    relay = OutboxRelay(outbox, _Publisher(), "postgresql://unused", poll_seconds=60)  # type: ignore[arg-type]

    async def listen() -> _Listener:
        return _Listener()

    relay._listen = listen  # type: ignore[method-assign,assignment]
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.wait_for(outbox.in_first.wait(), 5)
        relay.wake()  # committed while the first drain runs
        outbox.release_first.set()
        await asyncio.wait_for(outbox.second.wait(), 5)  # not after the 60 s poll
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
