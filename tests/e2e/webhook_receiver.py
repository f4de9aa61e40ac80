"""A webhook receiver on loopback for end-to-end tests: records every POST, answers each path
from a plan (status codes in order, then 200), and can hold an answer until told to let go.

Verification is the receiver's job, done with the Standard Webhooks reference library.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook

# Tasks settings under which a test stack delivers to this receiver: loopback over http, allowed
# by the operator's allow-list alone, polled and timed out quickly.
LOOPBACK_WEBHOOKS: dict[str, Any] = {
    "webhook_allow_http": True,
    "webhook_allow_list": ["127.0.0.1/32"],
    "webhook_poll_seconds": 0.2,
    "webhook_timeout_seconds": 2.0,
}


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> dict[str, Any]:
        """The payload, after the reference library checked its signature and timestamp."""
        payload: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return payload

    def json(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc


@dataclass
class Receiver:
    """POST /<path>: answered by `plan[path]` (popped), else 200; `hold` paths wait for
    `release`."""

    plan: dict[str, list[int]] = field(default_factory=dict)
    hold: set[str] = field(default_factory=set)
    received: list[Delivery] = field(default_factory=list)
    port: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def wait_for(
        self, count: int, path: str | None = None, seconds: float = 20.0
    ) -> list[Delivery]:
        """The first `count` deliveries (to `path`, if given), once they arrived."""

        def found() -> list[Delivery]:
            return [d for d in self.received if path is None or d.path == path]

        async with asyncio.timeout(seconds), self.arrived:
            await self.arrived.wait_for(lambda: len(found()) >= count)
        return found()[:count]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1].lstrip("/")
            headers: dict[str, str] = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            async with self.arrived:
                self.received.append(Delivery(path, headers, body))
                self.arrived.notify_all()
            if path in self.hold:
                await self.release.wait()
            planned = self.plan.get(path)
            status = planned.pop(0) if planned else 200
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    """A started receiver; held answers are let go and it is stopped afterwards."""
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        server.release.set()
        await server.stop()
