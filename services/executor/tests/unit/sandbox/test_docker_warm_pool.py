"""The warm pool with a fake engine: stock per key, single use, refill, failures, drain."""

from __future__ import annotations

import asyncio

import pytest

from voidrunner.executor.sandbox.warm_pool import WarmPool


class FakeEngine:
    def __init__(self, failures: int = 0) -> None:
        self.created: list[tuple[str, str]] = []
        self.removed: list[str] = []
        self.failures = failures

    async def make(self, key: str, name: str) -> str:
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("engine hiccup")
        self.created.append((key, name))
        return f"id-{len(self.created)}"

    async def discard(self, container_id: str) -> None:
        self.removed.append(container_id)


async def test_keeps_size_ready_per_key_and_never_hands_out_twice() -> None:
    engine = FakeEngine()
    pool: WarmPool[str] = WarmPool(2, engine.make, engine.discard)
    pool.watch("python")
    assert await pool.wait_ready("python", 2)
    first, second = pool.take("python"), pool.take("python")
    assert first is not None
    assert second not in (None, first)
    assert pool.take("go") is None  # unwatched key: the caller goes cold
    assert await pool.wait_ready("python", 2)
    taken = {first, second, pool.take("python"), pool.take("python")}
    assert len(taken) == 4
    assert await pool.wait_ready("python", 2)
    await pool.close()
    assert len(engine.removed) == 2  # only the idle ones; taken containers are the caller's
    assert not set(engine.removed) & taken


async def test_held_names_cover_idle_stock_only() -> None:
    engine = FakeEngine()
    pool: WarmPool[str] = WarmPool(1, engine.make, engine.discard, name_prefix="vr-test")
    pool.watch("bash")
    assert await pool.wait_ready("bash", 2)
    assert pool.held_names() == {engine.created[0][1]}
    assert engine.created[0][1].startswith("vr-test-")
    pool.take("bash")
    assert engine.created[0][1] not in pool.held_names()
    await pool.close()


async def test_failures_back_off_and_recover() -> None:
    engine = FakeEngine(failures=2)
    pool: WarmPool[str] = WarmPool(1, engine.make, engine.discard, retry_delay=0.01)
    pool.watch("python")
    assert await pool.wait_ready("python", 2)
    assert pool.ready("python") == 1
    await pool.close()


async def test_size_zero_is_disabled_and_negative_is_refused() -> None:
    engine = FakeEngine()
    pool: WarmPool[str] = WarmPool(0, engine.make, engine.discard)
    pool.watch("python")
    await asyncio.sleep(0.01)
    assert engine.created == []
    assert pool.take("python") is None
    with pytest.raises(ValueError, match="negative"):
        WarmPool(-1, engine.make, engine.discard)


async def test_close_stops_refilling() -> None:
    engine = FakeEngine()
    pool: WarmPool[str] = WarmPool(3, engine.make, engine.discard)
    pool.watch("python")
    await pool.close()
    pool.watch("python")
    assert pool.take("python") is None
    assert sorted(engine.removed) == sorted(f"id-{i + 1}" for i in range(len(engine.created)))


async def test_a_take_without_replacement_waits_for_replenish() -> None:
    engine = FakeEngine()
    pool: WarmPool[str] = WarmPool(1, engine.make, engine.discard)
    pool.watch("python")
    assert await pool.wait_ready("python", 2)
    assert pool.take("python", replace=False) is not None
    for _ in range(5):
        await asyncio.sleep(0)
    assert (pool.ready("python"), len(engine.created)) == (0, 1)  # nothing started meanwhile
    pool.replenish("go")  # an unwatched key stays unwatched
    pool.replenish("python")
    assert await pool.wait_ready("python", 2)
    assert len(engine.created) == 2
    pool.replenish("python")  # full: nothing more
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(engine.created) == 2
    await pool.close()
