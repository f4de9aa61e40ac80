"""The open-loop generator against a tiny local server: the offered rate holds whatever the
answers do, and a request's latency counts from when it was due (queueing included)."""

from __future__ import annotations

import asyncio

from bench._load import open_loop_get


def _server(delay: float) -> object:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(delay)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return serve


async def _run(delay: float, conns: int) -> tuple[int, int, float, float]:
    server = await asyncio.start_server(_server(delay), "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    try:
        sample = await open_loop_get(f"http://127.0.0.1:{port}", "/x", {}, 50, 1.0, conns)
    finally:
        server.close()
        await server.wait_closed()
    lat = sorted(sample.latencies_ms)
    return len(lat), sample.errors, lat[len(lat) // 2], lat[-1]


async def test_a_fast_server_sees_the_offered_rate_at_low_latency() -> None:
    answered, errors, p50, _worst = await _run(0.0, 4)
    assert (answered, errors) == (50, 0)
    assert p50 < 20, p50


async def test_waiting_for_a_connection_counts_as_latency() -> None:
    # One connection, 50 ms per answer, 50 requests due over a second: each waits for all
    # before it, so the last one is due at 0.98 s and answered near 2.5 s.
    answered, errors, p50, worst = await _run(0.05, 1)
    assert (answered, errors) == (50, 0)
    assert worst > 1000, worst
    assert p50 > 300, p50
