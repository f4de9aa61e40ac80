"""The supervisor with small fake loops: crash logging, back-off, health, stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from voidrunner.common.supervision import Backoff, Loop, Supervisor

FAST = Backoff(initial=0.01, maximum=0.05, jitter=0.0)


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


class FlakyLoop:
    """Crashes its first `crashes` runs, then serves until stopped."""

    def __init__(self, crashes: int, error: Exception | None = None) -> None:
        self.crashes = crashes
        self.error = error or ConnectionError("dependency away")
        self.runs = 0
        self.drained = False

    async def __call__(self, loop: Loop) -> None:
        self.runs += 1
        if self.runs <= self.crashes:
            raise self.error
        loop.ready()
        await loop.stop.wait()
        self.drained = True


def test_backoff_doubles_up_to_its_bound_with_bounded_jitter() -> None:
    b = Backoff(initial=0.5, maximum=10.0, jitter=0.2)
    assert [b.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert b.delay(1, spread=0.0) == pytest.approx(0.4)
    assert b.delay(1, spread=0.999999) == pytest.approx(0.6, abs=1e-5)
    assert b.delay(100, spread=0.999999) == 10.0  # never past the bound, jitter included
    assert b.delay(5000) == 10.0  # no float overflow after a very long outage


async def test_a_crash_is_logged_with_its_cause_and_the_loop_restarts() -> None:
    flaky = FlakyLoop(crashes=2)
    supervisor = Supervisor(FAST)
    supervisor.add("relay", flaky, signals_ready=True)
    with structlog.testing.capture_logs() as logs:
        supervisor.start()
        await eventually(lambda: supervisor.health()["relay"].up)
    await supervisor.stop(grace=1.0)
    crashes = [e for e in logs if e["event"] == "loop crashed; restarting"]
    assert len(crashes) == 2
    assert all(e["log_level"] == "error" and e["loop"] == "relay" for e in crashes)
    assert all(e["exc_info"] is flaky.error for e in crashes)  # the traceback goes to the log
    assert [e["failures"] for e in crashes] == [1, 2]
    assert [e["restart_in"] for e in crashes] == [0.01, 0.02]
    assert flaky.runs == 3
    assert flaky.drained


async def test_health_is_down_while_crashed_and_up_after_recovery() -> None:
    gate = asyncio.Event()
    runs = 0

    async def waits_for_gate(loop: Loop) -> None:
        nonlocal runs
        runs += 1
        if not gate.is_set():
            raise ConnectionError("nats unreachable")
        loop.ready()
        await loop.stop.wait()

    supervisor = Supervisor(FAST)
    supervisor.add("dispatch", waits_for_gate, signals_ready=True)
    supervisor.start()
    await eventually(lambda: runs >= 3)
    health = supervisor.health()["dispatch"]
    assert not health.up
    assert not supervisor.healthy()
    assert health.last_error == "ConnectionError: nats unreachable"
    assert health.restarts >= 2
    gate.set()
    await eventually(supervisor.healthy)
    # The last error stays visible after the recovery.
    assert supervisor.health()["dispatch"].last_error == "ConnectionError: nats unreachable"
    await supervisor.stop(grace=1.0)
    assert not supervisor.healthy()


async def test_ready_and_not_ready_drive_health_and_wake_watchers() -> None:
    handle: list[Loop] = []

    async def connection(loop: Loop) -> None:
        handle.append(loop)
        await loop.stop.wait()

    supervisor = Supervisor(FAST)
    supervisor.add("nats", connection, signals_ready=True)
    supervisor.add("reaper", lambda loop: loop.stop.wait())  # up as soon as it runs
    supervisor.start()
    await eventually(lambda: bool(handle))
    assert supervisor.health()["reaper"].up
    assert not supervisor.healthy()  # nats has not said it is ready

    changed = asyncio.ensure_future(supervisor.changed())
    await asyncio.sleep(0)
    assert not changed.done()
    handle[0].ready()
    await asyncio.wait_for(changed, 1.0)
    assert supervisor.healthy()

    handle[0].not_ready("nats disconnected")
    assert not supervisor.healthy()
    assert supervisor.health()["nats"].last_error == "nats disconnected"
    assert supervisor.health()["nats"].restarts == 0  # not a crash
    handle[0].ready()
    assert supervisor.healthy()
    await supervisor.stop(grace=1.0)


async def test_returning_before_stop_counts_as_a_crash() -> None:
    runs = 0

    async def returns_at_once(loop: Loop) -> None:
        nonlocal runs
        runs += 1

    supervisor = Supervisor(FAST)
    supervisor.add("watch", returns_at_once)
    supervisor.start()
    await eventually(lambda: runs >= 2)
    assert supervisor.health()["watch"].last_error == "returned before stop"
    await supervisor.stop(grace=1.0)


async def test_a_stray_cancelled_error_restarts_the_loop_instead_of_ending_it() -> None:
    runs = 0

    async def awaits_a_cancelled_task(loop: Loop) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            inner = asyncio.ensure_future(asyncio.sleep(10))
            inner.cancel()
            await inner  # raises CancelledError, though nobody cancelled this loop
        loop.ready()
        await loop.stop.wait()

    supervisor = Supervisor(FAST)
    supervisor.add("consumer", awaits_a_cancelled_task, signals_ready=True)
    supervisor.start()
    await eventually(supervisor.healthy)
    assert runs == 2
    assert supervisor.health()["consumer"].last_error == "CancelledError"
    await supervisor.stop(grace=1.0)


async def test_the_back_off_resets_after_a_healthy_spell() -> None:
    now = [0.0]
    crash = asyncio.Event()
    stage: dict[str, Any] = {"runs": 0}

    async def crashes_on_demand(loop: Loop) -> None:
        stage["runs"] += 1
        if stage["runs"] <= 3:  # three quick crashes in a row
            raise RuntimeError("quick")
        loop.ready()
        await crash.wait()
        crash.clear()
        raise RuntimeError("after a healthy spell")

    backoff = Backoff(initial=0.01, maximum=1.0, reset_after=30.0, jitter=0.0)
    supervisor = Supervisor(backoff, clock=lambda: now[0])
    supervisor.add("recorder", crashes_on_demand, signals_ready=True)
    with structlog.testing.capture_logs() as logs:
        supervisor.start()
        await eventually(supervisor.healthy)
        now[0] += 31.0  # up for longer than reset_after
        crash.set()
        await eventually(lambda: stage["runs"] >= 5)
    await supervisor.stop(grace=1.0)
    failures = [e["failures"] for e in logs if e["event"] == "loop crashed; restarting"]
    assert failures[:4] == [1, 2, 3, 1]


async def test_stop_gives_up_loops_their_grace_and_cancels_the_rest() -> None:
    drained = asyncio.Event()
    cancelled: list[str] = []

    async def drains(loop: Loop) -> None:
        await loop.stop.wait()
        await asyncio.sleep(0.05)  # finishing its work
        drained.set()

    async def ignores_stop(loop: Loop) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append("stubborn")
            raise

    async def waits_for_dependency(loop: Loop) -> None:
        try:
            await asyncio.Event().wait()  # never ready
        except asyncio.CancelledError:
            cancelled.append("setup")
            raise

    supervisor = Supervisor(FAST)
    supervisor.add("consumer", drains)
    supervisor.add("stubborn", ignores_stop)
    supervisor.add("setup", waits_for_dependency, signals_ready=True)
    supervisor.start()
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await supervisor.stop(grace=0.3)
    took = time.monotonic() - started
    assert drained.is_set()
    assert cancelled[0] == "setup"  # not up: cancelled at once, without waiting the grace
    assert cancelled == ["setup", "stubborn"]
    assert 0.25 < took < 2.0


async def test_a_loop_added_after_start_runs_and_names_are_unique() -> None:
    supervisor = Supervisor(FAST)
    supervisor.start()
    flaky = FlakyLoop(crashes=0)
    supervisor.add("late", flaky, signals_ready=True)
    await eventually(supervisor.healthy)
    with pytest.raises(ValueError, match="already supervised"):
        supervisor.add("late", flaky)
    await supervisor.stop(grace=1.0)
    assert flaky.drained


async def test_no_loops_means_healthy_until_stopped() -> None:
    supervisor = Supervisor()
    supervisor.start()
    assert supervisor.healthy()
    await supervisor.stop(grace=0.1)
    assert not supervisor.healthy()
