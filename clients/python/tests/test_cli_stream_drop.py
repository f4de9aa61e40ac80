"""`voidrunner run` when the connection to the server breaks mid-run: a loopback proxy in front
of the real gateway cuts the log stream right after the first output chunk. When the server
can be reached again the CLI resumes after the last event it saw (no line lost or doubled);
when it cannot, one clear line and 125."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from client_harness import Cli

pytestmark = pytest.mark.sandbox

SLOW_TWO_LINES = (
    "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second', flush=True)\n"
)


class DroppingProxy:
    """Forwards to the gateway; the first log stream is cut after its first stdout event, and
    with `refuse_again` every later log stream is cut at once."""

    def __init__(self, target: str, *, refuse_again: bool) -> None:
        parts = urlsplit(target)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.refuse_again = refuse_again
        self.streams = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        stream = 0  # which log stream this connection carries (0: none yet)
        done = asyncio.Event()

        async def upward() -> None:
            nonlocal stream
            while data := await reader.read(65536):
                if b"GET /api/v1/executions/" in data and b"/logs" in data:
                    self.streams += 1
                    stream = self.streams
                    if stream > 1 and self.refuse_again:
                        done.set()
                        return
                up_writer.write(data)
                await up_writer.drain()
            done.set()

        async def downward() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
                if stream == 1 and b"event: stdout" in data:
                    done.set()  # the first chunk got through: now drop the connection
                    return
            done.set()

        tasks = [asyncio.create_task(upward()), asyncio.create_task(downward())]
        await done.wait()
        for task in tasks:
            task.cancel()
        for w in (writer, up_writer):
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()


async def test_a_dropped_stream_resumes_or_fails_in_one_line(
    cli: Cli, gateway_url: str, pipeline: Any, tmp_path: Path
) -> None:
    path = tmp_path / "two.py"
    path.write_text(SLOW_TWO_LINES)
    resuming = DroppingProxy(gateway_url, refuse_again=False)
    refusing = DroppingProxy(gateway_url, refuse_again=True)
    try:
        via_resuming, via_refusing = await resuming.start(), await refusing.start()
        resumed, failed = await asyncio.gather(
            cli("run", str(path), VOIDRUNNER_URL=via_resuming),
            cli("run", str(path), VOIDRUNNER_URL=via_refusing),
        )
    finally:
        await resuming.stop()
        await refusing.stop()
    assert resuming.streams >= 2  # it really was cut and reconnected
    assert resumed.code == 0, resumed.err
    assert resumed.stdout == b"first\nsecond\n"
    assert failed.code == 125
    assert failed.stdout == b"first\n"
    assert failed.err.strip().splitlines() == [
        "voidrunner: the server dropped the log stream and it could not be resumed"
    ]
