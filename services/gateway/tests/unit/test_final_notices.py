"""Final notices: one subscription, many waiters, and a short memory for notices that came first."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

from voidrunner.contracts.topology import final_subject
from voidrunner.gateway.live import FinalNotices


@dataclass
class Msg:
    subject: str
    headers: dict[str, str] | None = None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def notices(clock: Clock, most: int = 100) -> FinalNotices:
    # The NATS connection is only used by start(), which these tests do not call.
    return FinalNotices(cast(Any, None), remember_seconds=60, remember_most=most, clock=clock)


async def notice(finals: FinalNotices, execution_id: str) -> None:
    await finals._on_notice(Msg(final_subject(execution_id)))


async def test_a_notice_wakes_every_watcher_of_its_execution_only() -> None:
    finals = notices(Clock())
    with finals.watch("a") as first, finals.watch("a") as second, finals.watch("b") as other:
        waits = asyncio.gather(first.wait(5), second.wait(5))
        await asyncio.sleep(0)
        await notice(finals, "a")
        assert list(await waits) == [True, True]
        assert not other.arrived()
    assert finals._watchers == {}


async def test_a_watch_opened_after_the_notice_sees_it_at_once() -> None:
    clock = Clock()
    finals = notices(clock)
    await notice(finals, "early")
    clock.now = 59
    with finals.watch("early") as seen:
        assert seen.arrived()
    clock.now = 200
    await notice(finals, "later")  # the old one is forgotten on the way
    with finals.watch("early") as forgotten:
        assert not forgotten.arrived()
        assert not await forgotten.wait(0.01)


async def test_memory_is_bounded_by_count() -> None:
    finals = notices(Clock(), most=3)
    for n in range(10):
        await notice(finals, f"e{n}")
    assert list(finals._seen) == ["e7", "e8", "e9"]
