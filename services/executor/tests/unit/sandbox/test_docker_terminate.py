"""Stopping a container: signals through the engine, the host as the last resort."""

from __future__ import annotations

import asyncio

from voidrunner.executor.sandbox.docker_container import terminate


class Container:
    """An engine's view of one container: `kill` is delivered at once, or hangs forever."""

    def __init__(self, *, engine_stuck: bool, dies_on: str | None) -> None:
        self.engine_stuck = engine_stuck
        self.dies_on = dies_on
        self.signals: list[str] = []
        self.gone = asyncio.Event()

    async def kill(self, signal: str) -> None:
        self.signals.append(signal)
        if self.engine_stuck:
            await asyncio.Event().wait()
        if signal == self.dies_on:
            self.gone.set()


async def stop(container: Container) -> list[str]:
    """Terminate `container` (failing after 5 s); what was reaped on the host."""
    reaped: list[str] = []

    def reap() -> None:
        reaped.append("reap")
        container.gone.set()

    exited = asyncio.create_task(container.gone.wait())
    await asyncio.wait_for(terminate(container, exited, 0.05, reap), 5)
    assert exited.done()
    return reaped


async def test_a_launcher_that_obeys_sigterm_is_not_killed() -> None:
    container = Container(engine_stuck=False, dies_on="SIGTERM")
    reaped = await stop(container)
    assert (container.signals, reaped) == (["SIGTERM"], [])


async def test_sigkill_follows_an_ignored_sigterm() -> None:
    container = Container(engine_stuck=False, dies_on="SIGKILL")
    reaped = await stop(container)
    assert (container.signals, reaped) == (["SIGTERM", "SIGKILL"], [])


async def test_a_stuck_engine_is_bypassed_after_the_grace_period() -> None:
    # runsc kill blocks for ~100 s when the sandbox dies as it is signalled; the run must not.
    container = Container(engine_stuck=True, dies_on=None)
    reaped = await stop(container)
    assert (container.signals, reaped) == (["SIGTERM"], ["reap"])
