"""Connecting to NATS with retries, and draining on the way out."""

from __future__ import annotations

import contextlib

import nats
from nats.aio.client import Client as NATS

from voidrunner.common.logs import get_logger

_log = get_logger("voidrunner.nats")


async def connect_nats(url: str, *, name: str, connect_timeout: float = 5.0) -> NATS:
    """Connect, reconnecting forever in the background once connected (NATS restarts are normal)."""

    async def on_disconnect() -> None:
        _log.warning("nats disconnected")

    async def on_reconnect() -> None:
        _log.info("nats reconnected")

    async def on_error(exc: Exception) -> None:
        _log.warning("nats error", error=str(exc))

    nc = await nats.connect(
        servers=[url],
        name=name,
        connect_timeout=connect_timeout,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )
    _log.info("nats connected", url=url)
    return nc


async def drain_nats(nc: NATS) -> None:
    """Let subscriptions finish what they hold, flush publishes, then close."""
    if nc.is_closed:
        return
    try:
        await nc.drain()
    except Exception:  # closing is best effort on the way out (NATS may be gone)
        _log.warning("nats drain failed; closing", exc_info=True)
        with contextlib.suppress(Exception):
            await nc.close()
