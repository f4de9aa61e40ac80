"""The transactional outbox between the tasks service and the scheduler.

Starting an execution writes its job (a serialized voidrunner.jobs.v1.Job) into
`execution_outbox` in the same transaction as the pending execution, so committed work cannot be
lost to a NATS outage. A relay (the scheduler) drains it:

    async with outbox.claim(limit=100) as batch:      # FOR UPDATE SKIP LOCKED
        for entry in batch.entries:
            await publish(entry)                      # Nats-Msg-Id = execution id
        await batch.mark_published([e.id for e in batch.entries])

The claimed rows stay locked until the block ends, so concurrent relays never get the same row;
if a relay dies mid-batch its transaction rolls back and the rows are claimed again. Publishing
is therefore at-least-once, and JetStream's de-duplication on Nats-Msg-Id makes it effectively
once. `relay_once` wraps that loop for callers that only supply the publish function.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from voidrunner.common.db import Conn, Queries
from voidrunner.common.logs import get_logger
from voidrunner.common.tracing import current_traceparent
from voidrunner.proto.jobs.v1 import jobs_pb2

_log = get_logger("voidrunner.tasks.outbox")
DEFAULT_CHANNEL = "voidrunner_outbox"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One job waiting to be published."""

    id: int
    execution_id: uuid.UUID
    payload: bytes
    attempts: int
    created_at: dt.datetime
    # The traceparent of the request that queued it (None when that request was not traced).
    trace_parent: str | None = None

    def job(self) -> jobs_pb2.Job:
        """The payload decoded."""
        job = jobs_pb2.Job()
        job.ParseFromString(self.payload)
        return job


class OutboxBatch:
    """Rows claimed by one transaction; mark them before the `claim` block ends."""

    def __init__(self, conn: Conn, queries: Queries, entries: list[OutboxEntry]) -> None:
        self._conn = conn
        self._q = queries
        self.entries = entries

    async def mark_published(self, ids: list[int]) -> None:
        """These rows reached NATS: never hand them out again."""
        if ids:
            await self._conn.execute(self._q.mark_outbox_published, ids)

    async def mark_failed(self, ids: list[int]) -> None:
        """Publishing these failed: count the attempt, release them for a later claim."""
        if ids:
            await self._conn.execute(self._q.mark_outbox_failed, ids)


class Outbox:
    """Writes jobs in the caller's transaction; claims and marks them for relays."""

    def __init__(
        self, pool: asyncpg.Pool, queries: Queries, channel: str = DEFAULT_CHANNEL
    ) -> None:
        self._pool = pool
        self._q = queries
        self.channel = channel

    async def add(self, conn: Conn, execution_id: uuid.UUID, job: jobs_pb2.Job) -> None:
        """Queue `job` in the transaction `conn` is in, and wake listening relays on commit. The
        current span's traceparent goes with it, for the relay to continue the trace."""
        await conn.execute(
            self._q.insert_outbox, execution_id, job.SerializeToString(), current_traceparent()
        )
        await conn.execute(self._q.notify_outbox, self.channel)

    async def discard(self, conn: Conn, execution_id: uuid.UUID) -> int:
        """Drop the unpublished job of an execution (cancelled while pending). Rows removed."""
        status: str = await conn.execute(self._q.discard_outbox, execution_id)
        return int(status.rsplit(" ", 1)[-1])

    @asynccontextmanager
    async def claim(self, limit: int = 100) -> AsyncIterator[OutboxBatch]:
        """Lock up to `limit` unpublished rows (oldest first) for the duration of the block."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(self._q.claim_outbox, limit)
            entries = [
                OutboxEntry(
                    id=r["id"],
                    execution_id=r["execution_id"],
                    payload=bytes(r["payload"]),
                    attempts=r["attempts"],
                    created_at=r["created_at"],
                    trace_parent=r["trace_parent"],
                )
                for r in rows
            ]
            yield OutboxBatch(conn, self._q, entries)

    async def relay_once(
        self, publish: Callable[[OutboxEntry], Awaitable[None]], limit: int = 100
    ) -> int:
        """Claim a batch, publish each entry, mark the outcome. Returns how many were published."""
        async with self.claim(limit) as batch:
            done: list[int] = []
            failed: list[int] = []
            for entry in batch.entries:
                try:
                    await publish(entry)
                except Exception:  # one bad publish must not block the batch
                    _log.warning(
                        "outbox publish failed",
                        execution_id=str(entry.execution_id),
                        exc_info=True,
                    )
                    failed.append(entry.id)
                else:
                    done.append(entry.id)
            await batch.mark_published(done)
            await batch.mark_failed(failed)
        return len(done)

    async def pending_count(self) -> int:
        """Rows not yet published."""
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval(self._q.pending_outbox_count)
            return count

    async def lag(self) -> tuple[int, float]:
        """(rows not yet published, age in seconds of the oldest; 0 when none)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(self._q.stats_outbox)
        if row is None:  # an aggregate without GROUP BY always has a row
            return 0, 0.0
        return int(row["pending"]), float(row["oldest_seconds"])

    async def purge(self, published_before: dt.datetime) -> int:
        """Delete rows published before `published_before`. Rows removed."""
        async with self._pool.acquire() as conn:
            status: str = await conn.execute(self._q.purge_outbox, published_before)
        return int(status.rsplit(" ", 1)[-1])
