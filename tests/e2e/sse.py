"""A tiny Server-Sent Events reader for tests."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    name: str
    data: dict[str, Any]
    received_at: float
    id: str = ""


async def events(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> AsyncIterator[Event]:
    """Yield the events of one SSE response until the server closes it."""
    async with client.stream("GET", url, headers=headers, timeout=60) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream")
        name, data, event_id = "message", [], ""
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data.append(line.split(":", 1)[1].strip())
            elif line.startswith("id:"):
                event_id = line.split(":", 1)[1].strip()
            elif line == "" and data:
                yield Event(name, json.loads("\n".join(data)), time.monotonic(), event_id)
                name, data, event_id = "message", [], ""
