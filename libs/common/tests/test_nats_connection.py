"""The supervised NATS connection against a real nats-server that starts late and restarts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from voidrunner.common.nats_client import NatsConnection
from voidrunner.common.supervision import Backoff, Supervisor
from voidrunner.devstack.nats import EmbeddedNats


async def eventually(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_connects_once_nats_comes_and_follows_restarts(nats_later: EmbeddedNats) -> None:
    nats = NatsConnection(nats_later.url, name="test", connect_timeout=0.5)
    supervisor = Supervisor(Backoff(initial=0.05, maximum=0.2, jitter=0.0))
    supervisor.add("nats", nats.run, signals_ready=True)
    supervisor.start()
    try:
        # NATS is not there: the loop is down and says why (the refused connection).
        await eventually(lambda: supervisor.health()["nats"].restarts >= 2)
        health = supervisor.health()["nats"]
        assert not health.up
        assert health.last_error is not None
        assert health.last_error.startswith(
            f"ConnectionError: nats unreachable at {nats_later.url}"
        )
        assert "refused" in health.last_error.lower()
        waiting = asyncio.ensure_future(nats.connected())
        await asyncio.sleep(0.1)
        assert not waiting.done()

        nats_later.start()
        client = await asyncio.wait_for(waiting, 15)
        await eventually(supervisor.healthy)
        received: list[bytes] = []

        async def on_msg(msg: object) -> None:
            received.append(msg.data)  # type: ignore[attr-defined]

        await client.subscribe("probe", cb=on_msg)
        await client.flush()

        nats_later.stop()  # NATS restarts: down without a crash, then up again by itself
        await eventually(lambda: not supervisor.healthy())
        assert supervisor.health()["nats"].last_error == "nats disconnected"
        restarts = supervisor.health()["nats"].restarts
        nats_later.start()
        await eventually(supervisor.healthy)
        assert supervisor.health()["nats"].restarts == restarts  # nats-py reconnected, no crash
        await (await nats.connected()).publish("probe", b"after restart")
        await eventually(lambda: received == [b"after restart"])  # the subscription came back
    finally:
        await supervisor.stop(1.0)
        await nats.drain()
    assert nats.client.is_closed


async def test_drain_without_ever_connecting_is_harmless(nats_later: EmbeddedNats) -> None:
    nats = NatsConnection(nats_later.url, name="test", connect_timeout=0.2)
    supervisor = Supervisor(Backoff(initial=5.0, jitter=0.0))
    supervisor.add("nats", nats.run, signals_ready=True)
    supervisor.start()
    await eventually(lambda: supervisor.health()["nats"].restarts >= 1)
    started = time.monotonic()
    await supervisor.stop(30.0)  # backing off, not up: cancelled at once
    await nats.drain()
    assert time.monotonic() - started < 2.0
