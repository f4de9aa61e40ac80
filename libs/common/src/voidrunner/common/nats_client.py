"""The process's NATS connection, opened by a supervised loop, and draining on the way out.

    nats = NatsConnection(settings.nats_url, name="voidrunner-scheduler")
    supervisor.add("nats", nats.run, signals_ready=True)
    nc = await nats.connected()      # in a loop that needs NATS: waits while it is away
    ...
    await supervisor.stop(grace)     # the loops that use the connection first,
    await nats.drain()               # then the connection itself

`nats.client` exists from the start, so it can be handed to whatever publishes later; it is
connected once `run` succeeds. A first connect that fails raises (the supervisor logs the cause
and tries again after its back-off), so a service starts while NATS is away and connects when
it comes. Once connected, nats-py reconnects by itself forever (subscriptions included) and the
loop's health follows the connection: down while disconnected, up again on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS

from voidrunner.common.logs import get_logger
from voidrunner.common.supervision import Loop

_log = get_logger("voidrunner.nats")
RECONNECT_WAIT_SECONDS = 0.5
# How long drain() waits for subscriptions to finish what they hold (nats-py's default: 30 s).
# Their loops have stopped by then; a subscription that cannot drain must not hold up shutdown.
DRAIN_SECONDS = 5.0


class NatsConnection:
    """One NATS client, connected by `run` (a supervised loop); `connected()` waits for it."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        connect_timeout: float = 2.0,
        seed_file: Path | None = None,
        inbox_prefix: str | None = None,
    ) -> None:
        """`seed_file`: the nkey seed of this service's NATS user; `inbox_prefix`: where its
        replies arrive (its NATS permissions allow only its own)."""
        self.url = url
        self.client = NATS()
        self._name = name
        self._seed_file = seed_file
        self._inbox_prefix = inbox_prefix
        self._connect_timeout = connect_timeout
        self._opened = False
        self._up = asyncio.Event()
        self._closed = asyncio.Event()

    @property
    def is_connected(self) -> bool:
        """True while the client is connected."""
        return self.client.is_connected

    async def connected(self) -> NATS:
        """The client, once it is connected (at once when it is)."""
        await self._up.wait()
        return self.client

    def _options(self, **extra: Any) -> dict[str, Any]:
        """nats-py's connect() arguments: this connection's own, plus `extra`."""
        # nats-py annotates its timeouts as int but takes seconds as float.
        options: dict[str, Any] = {
            "servers": [self.url],
            "name": self._name,
            "connect_timeout": self._connect_timeout,
            **extra,
        }
        if self._seed_file is not None:
            options["nkeys_seed"] = str(self._seed_file)
        if self._inbox_prefix is not None:
            options["inbox_prefix"] = self._inbox_prefix
        return options

    async def connect_once(self) -> NATS:
        """The client connected once, without reconnecting: for a command that does one thing
        (the auth service's `admin` command) rather than a service that runs a loop."""
        try:
            await self.client.connect(**self._options(allow_reconnect=False))
        except Exception as exc:
            # nats-py keeps the socket of a refused connection open.
            await self.client.close()
            raise ConnectionError(f"nats unreachable at {self.url}: {exc}") from exc
        return self.client

    async def run(self, loop: Loop) -> None:
        """Connect (raising when NATS cannot be reached), then report the connection's state
        until `loop.stop`. The connection stays open: `drain()` closes it after its users."""
        if not self._opened or self.client.is_closed:
            await self._open(loop)
        loop.ready()
        stopped = asyncio.ensure_future(loop.stop.wait())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({stopped, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            closed.cancel()
        if not loop.stop.is_set():
            msg = f"nats connection to {self.url} closed"
            raise ConnectionError(msg)

    async def _open(self, loop: Loop) -> None:
        failures: list[Exception] = []
        connecting = True

        async def on_error(exc: Exception) -> None:
            if connecting:
                failures.append(exc)  # raised below, and logged by the supervisor
            else:
                _log.warning("nats error", error=str(exc))

        async def on_disconnect() -> None:
            self._up.clear()
            if not loop.stop.is_set():
                _log.warning("nats disconnected")
                loop.not_ready("nats disconnected")

        async def on_reconnect() -> None:
            _log.info("nats reconnected")
            self._up.set()
            loop.ready()

        async def on_closed() -> None:
            self._up.clear()
            self._closed.set()

        self._closed.clear()
        options = self._options(
            # Two attempts, then an error for the supervisor: nats-py would otherwise retry the
            # first connect forever inside connect(), the process stuck in its start-up.
            max_reconnect_attempts=1,
            reconnect_time_wait=RECONNECT_WAIT_SECONDS,
            allow_reconnect=True,
            drain_timeout=DRAIN_SECONDS,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
            closed_cb=on_closed,
        )
        try:
            await self.client.connect(**options)
        except Exception as exc:
            cause = failures[-1] if failures else exc
            msg = f"nats unreachable at {self.url}: {type(cause).__name__}: {cause}"
            raise ConnectionError(msg) from cause
        finally:
            connecting = False
        # Connected once: from now on reconnect forever (NATS restarts are normal). nats-py
        # reads its options at every reconnect, so this takes effect for the live client.
        self.client.options["max_reconnect_attempts"] = -1
        self._opened = True
        self._up.set()
        _log.info("nats connected", url=self.url)

    async def drain(self) -> None:
        """Drain and close the client (nothing to do if it never connected)."""
        self._up.clear()
        if self._opened:
            await drain_nats(self.client)


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
