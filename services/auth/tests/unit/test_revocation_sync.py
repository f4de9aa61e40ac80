"""The revocation re-publisher with fakes: what it republishes, and that it outlives failures."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from voidrunner.auth.revocation import RevocationSync

WINDOW = dt.timedelta(minutes=16)


class Sink:
    """Records what would go into the bucket."""

    def __init__(self) -> None:
        self.published: list[uuid.UUID] = []

    async def publish(self, session_id: uuid.UUID, revoked_at: dt.datetime) -> None:
        self.published.append(session_id)


class Store:
    """Sessions revoked at given times; fails its first `failures` reads (a database restart)."""

    def __init__(self, revoked: dict[uuid.UUID, dt.datetime], failures: int = 0) -> None:
        self.revoked = revoked
        self.failures = failures
        self.asked: list[dt.datetime] = []

    async def __call__(self, since: dt.datetime) -> list[tuple[uuid.UUID, dt.datetime]]:
        self.asked.append(since)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database restarting")
        return [(sid, at) for sid, at in self.revoked.items() if at >= since]


async def test_republishes_what_was_revoked_within_the_window() -> None:
    now = dt.datetime.now(dt.UTC)
    recent, old = uuid.uuid4(), uuid.uuid4()
    store = Store({recent: now - dt.timedelta(minutes=1), old: now - dt.timedelta(hours=1)})
    sink = Sink()
    assert await RevocationSync(sink, store, WINDOW, interval=30).sync_once() == 1
    assert sink.published == [recent]
    assert (
        now - WINDOW - dt.timedelta(seconds=5)
        < store.asked[0]
        <= now - WINDOW + dt.timedelta(seconds=5)
    )


async def test_a_failing_round_is_retried_next_interval_and_stop_ends_it() -> None:
    sid = uuid.uuid4()
    store = Store({sid: dt.datetime.now(dt.UTC)}, failures=2)
    sink = Sink()
    stop = asyncio.Event()
    run = asyncio.create_task(RevocationSync(sink, store, WINDOW, interval=0.01).run(stop))
    async with asyncio.timeout(5):
        while not sink.published:
            await asyncio.sleep(0.005)
    assert len(store.asked) >= 3  # two failed rounds, then the one that published
    stop.set()
    await asyncio.wait_for(run, 1)
