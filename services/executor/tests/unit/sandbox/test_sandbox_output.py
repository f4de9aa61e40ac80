"""The output collector: caps, truncation flags, streaming order, failing callbacks."""

from __future__ import annotations

import asyncio

import pytest

from voidrunner.executor.sandbox.output import OutputCollector
from voidrunner.executor.sandbox.types import OutputChunk, StreamName

OUT, ERR = StreamName.STDOUT, StreamName.STDERR


class _Recorder:
    def __init__(self) -> None:
        self.chunks: list[OutputChunk] = []

    async def __call__(self, chunk: OutputChunk) -> None:
        self.chunks.append(chunk)


async def test_keeps_everything_under_the_cap_and_streams_it_in_order() -> None:
    recorder = _Recorder()
    collector = OutputCollector(100, recorder)
    await collector.feed(OUT, b"one ")
    await collector.feed(ERR, b"warn")
    await collector.feed(OUT, b"two")
    assert collector.stdout == b"one two"
    assert collector.stderr == b"warn"
    assert not collector.exceeded
    assert not collector.stdout_truncated
    assert [(c.stream, c.data) for c in recorder.chunks] == [
        (OUT, b"one "),
        (ERR, b"warn"),
        (OUT, b"two"),
    ]


async def test_cap_is_per_stream_and_marks_truncation() -> None:
    recorder = _Recorder()
    collector = OutputCollector(5, recorder)
    await collector.feed(OUT, b"abc")
    await collector.feed(OUT, b"defgh")
    await collector.feed(ERR, b"12345")
    assert collector.stdout == b"abcde"
    assert collector.stdout_truncated
    assert collector.stderr == b"12345"
    assert not collector.stderr_truncated
    assert collector.exceeded
    assert collector.bytes_seen(OUT) == 8
    assert b"".join(c.data for c in recorder.chunks if c.stream is OUT) == b"abcde"


async def test_exactly_the_cap_is_not_exceeded() -> None:
    collector = OutputCollector(4)
    await collector.feed(OUT, b"abcd")
    await collector.feed(OUT, b"")
    assert not collector.exceeded
    assert collector.stdout == b"abcd"


async def test_wait_exceeded_wakes_when_the_cap_is_passed() -> None:
    collector = OutputCollector(2)
    waiter = asyncio.create_task(collector.wait_exceeded())
    await asyncio.sleep(0)
    assert not waiter.done()
    await collector.feed(ERR, b"xyz")
    await asyncio.wait_for(waiter, 1)
    assert collector.stderr_truncated


async def test_pump_drains_a_flood_with_bounded_memory() -> None:
    reader = asyncio.StreamReader()
    for _ in range(200):
        reader.feed_data(b"x" * 65536)
    reader.feed_eof()
    collector = OutputCollector(1000)
    await collector.pump(OUT, reader)
    assert len(collector.stdout) == 1000
    assert collector.bytes_seen(OUT) == 200 * 65536
    assert collector.stdout_truncated


async def test_failing_callback_stops_streaming_but_not_collection() -> None:
    calls = 0

    async def broken(chunk: OutputChunk) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("consumer gone")

    collector = OutputCollector(100, broken)
    await collector.feed(OUT, b"a")
    await collector.feed(OUT, b"b")
    assert calls == 1
    assert isinstance(collector.callback_error, RuntimeError)
    assert collector.stdout == b"ab"


async def test_concurrent_pumps_deliver_in_feed_order() -> None:
    delivered: list[bytes] = []

    async def slow(chunk: OutputChunk) -> None:
        await asyncio.sleep(0.001)
        delivered.append(chunk.data)

    collector = OutputCollector(1000, slow)
    await asyncio.gather(*(collector.feed(OUT, bytes([65 + i])) for i in range(10)))
    assert delivered == [bytes([65 + i]) for i in range(10)]


def test_negative_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        OutputCollector(-1)
