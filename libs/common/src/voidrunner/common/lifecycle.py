"""Signal-driven run/shutdown for a service process: one composition root, one stop event."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop as _uvloop

from voidrunner.common.logs import get_logger

_log = get_logger("voidrunner.lifecycle")


async def wait_for_stop_signal() -> None:
    """Return on the first SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    _log.info("stop signal received")


def run_service(main: Callable[[], Coroutine[Any, Any, None]], *, uvloop: bool = True) -> None:
    """Run a service's async main on uvloop (or asyncio's loop); main returns after its own
    graceful shutdown."""
    if uvloop:
        _uvloop.run(main())
    else:
        asyncio.run(main())
