"""The outbox relay: moves committed jobs from `execution_outbox` to the scheduler's stream.

    execution_outbox ──claim (SKIP LOCKED)──▶ publish vr.requests (Nats-Msg-Id = execution id)
                                         ──▶ mark published, in the same transaction

Woken by the NOTIFY the start transaction raises on commit, and polling as a fallback (a missed
notification or a listener connection that dropped only adds latency). While NATS is down it
claims nothing, so jobs wait in PostgreSQL and go out once NATS is back. Any replica of the tasks
service may run it: SKIP LOCKED hands each row to one relay, and JetStream drops a duplicate
publish (a relay that died between publish and commit) by its message id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
from nats.aio.client import Client as NATS

from voidrunner.common.jetstream import ensure_stream
from voidrunner.common.logs import get_logger
from voidrunner.common.tracing import (
    TRACEPARENT,
    TRACING_OFF,
    SpanKind,
    Tracing,
    with_trace,
)
from voidrunner.contracts import topology
from voidrunner.contracts.jobs import INLINE_INPUT_BYTES, publish_job
from voidrunner.contracts.streams import requests_stream
from voidrunner.tasks.outbox import Outbox, OutboxEntry

_log = get_logger("voidrunner.tasks.relay")
PUBLISH_TIMEOUT_SECONDS = 5.0
RELISTEN_SECONDS = 1.0


class JetStreamPublisher:
    """Publishes jobs to the requests stream over whatever NATS connection is current."""

    def __init__(
        self, connection: Callable[[], NATS | None], tracing: Tracing = TRACING_OFF
    ) -> None:
        self._connection = connection
        self._tracing = tracing
        self._declared = False

    def ready(self) -> bool:
        """True while NATS is connected."""
        nc = self._connection()
        return nc is not None and nc.is_connected

    async def publish(self, entry: OutboxEntry) -> None:
        """Publish one job, de-duplicated by JetStream on its execution id; in the trace of the
        request that queued it."""
        with self._tracing.span(
            "outbox relay",
            headers={TRACEPARENT: entry.trace_parent} if entry.trace_parent else None,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": topology.REQUESTS_SUBJECT,
                "voidrunner.execution_id": str(entry.execution_id),
                "voidrunner.outbox_attempts": entry.attempts,
            },
        ):
            await self._publish(entry)

    async def _publish(self, entry: OutboxEntry) -> None:
        headers = with_trace({})  # the relay span's context, when traced
        nc = self._connection()
        if nc is None or not nc.is_connected:
            msg = "nats is not connected"
            raise ConnectionError(msg)
        js = nc.jetstream()
        if not self._declared:
            await ensure_stream(js, requests_stream())
            self._declared = True
        msg_id = topology.request_msg_id(str(entry.execution_id))
        if len(entry.payload) <= INLINE_INPUT_BYTES:  # the common case: no need to decode
            await js.publish(
                topology.REQUESTS_SUBJECT,
                entry.payload,
                timeout=PUBLISH_TIMEOUT_SECONDS,
                headers={**headers, topology.MSG_ID_HEADER: msg_id},
            )
            return
        await publish_job(
            js,
            topology.REQUESTS_SUBJECT,
            entry.job(),
            msg_id,
            ack_seconds=PUBLISH_TIMEOUT_SECONDS,
            headers=headers,
        )


class OutboxRelay:
    """`run(stop)` until stop is set; each round drains the outbox in batches."""

    def __init__(
        self,
        outbox: Outbox,
        publisher: JetStreamPublisher,
        dsn: str,
        *,
        poll_seconds: float = 1.0,
        batch: int = 100,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._dsn = dsn
        self._poll = poll_seconds
        self._batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New work was committed in this process: relay now, without waiting for the NOTIFY
        to come back from PostgreSQL (the NOTIFY still wakes the other replicas)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; survives database and NATS outages."""
        listener = await self._listen()
        try:
            while not stop.is_set():
                if listener is None or listener.is_closed():
                    # The listening connection died with the database (a restart) or never
                    # opened: listen again, or NOTIFYs go unheard and new work waits for the
                    # fallback poll. The drain below covers what was notified in between.
                    listener = await self._listen()
                # Cleared before draining, not after: a wake-up that comes while a drain runs
                # (its job may be past the claim) must start another round, not be lost until
                # the next poll (up to poll_seconds of delay, often, under load).
                self._wake.clear()
                try:
                    await self.drain()
                except Exception:
                    # Any failed round is retried, never fatal: a dead relay task strands every
                    # later job in the outbox. After a database restart asyncpg may also raise
                    # InternalClientError ("another operation is in progress"), which is
                    # neither a PostgresError nor an InterfaceError.
                    _log.warning("outbox relay round failed; retrying", exc_info=True)
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                # Without a live listener, come back soon to open one again.
                listening = listener is not None and not listener.is_closed()
                timeout = self._poll if listening else min(self._poll, RELISTEN_SECONDS)
                await asyncio.wait(
                    {waiter, stopper}, timeout=timeout, return_when="FIRST_COMPLETED"
                )
                for fut in (waiter, stopper):
                    fut.cancel()
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()

    async def drain(self) -> int:
        """Publish everything pending now (nothing while NATS is down). Returns the count."""
        total = 0
        while self._publisher.ready():
            done = await self._outbox.relay_once(self._publisher.publish, self._batch)
            total += done
            if done < self._batch:
                break
        if total:
            _log.info("outbox relayed", jobs=total)
        return total

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            conn = await asyncpg.connect(self._dsn)
            await conn.add_listener(self._outbox.channel, lambda *_: self._wake.set())
            # Losing the connection wakes the loop, which listens again (see run).
            conn.add_termination_listener(lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError):
            _log.warning("outbox listener unavailable; polling only", exc_info=True)
            return None
        return conn
