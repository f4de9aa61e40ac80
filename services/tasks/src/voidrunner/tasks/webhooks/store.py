"""SQL access for webhooks: secrets, endpoints, deliveries and their attempts (sql/webhooks.sql).

Every method takes the connection it runs on, so the caller decides what shares a transaction
(a delivery is queued in the transaction of the status change it reports).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg

from voidrunner.common.db import Conn, Queries

QUERIES_FILE = Path(__file__).parent.parent / "sql" / "webhooks.sql"


class DeliveryState:
    """Where a delivery is: still owed, delivered (a 2xx), or given up on."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """A user's signing secret; `previous` signs too until `previous_valid_until`."""

    secret: str
    previous: str | None
    previous_valid_until: dt.datetime | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """A row of `webhook_endpoints`."""

    id: uuid.UUID
    user_id: uuid.UUID
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    failing_since: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of a delivery, as logged."""

    attempt: int
    attempted_at: dt.datetime
    status_code: int | None
    latency_ms: int
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A delivery as its owner sees it (without the body)."""

    id: uuid.UUID
    message_id: str
    endpoint_id: uuid.UUID | None
    event_type: str
    execution_id: uuid.UUID
    state: str
    attempts: int
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    attempt_log: tuple[AttemptRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A leased delivery, with everything one attempt needs."""

    id: uuid.UUID
    message_id: str
    user_id: uuid.UUID
    endpoint_id: uuid.UUID | None
    url: str
    enabled: bool
    body: str
    attempts: int
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What to write after one attempt."""

    attempted_at: dt.datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    state: str
    next_attempt_at: dt.datetime | None


def _secret(row: asyncpg.Record) -> SecretRecord:
    return SecretRecord(
        secret=row["secret"],
        previous=row["previous_secret"],
        previous_valid_until=row["previous_valid_until"],
        created_at=row["created_at"],
    )


def _endpoint(row: asyncpg.Record) -> EndpointRecord:
    return EndpointRecord(**{k: row[k] for k in EndpointRecord.__dataclass_fields__})


def _delivery(row: asyncpg.Record) -> DeliveryRecord:
    fields = [f for f in DeliveryRecord.__dataclass_fields__ if f != "attempt_log"]
    return DeliveryRecord(**{k: row[k] for k in fields})


class WebhookStore:
    """The webhook tables."""

    def __init__(self, queries: Queries | None = None) -> None:
        self._q = queries or Queries(QUERIES_FILE)

    async def secret(self, conn: Conn, user_id: uuid.UUID) -> SecretRecord | None:
        """The user's signing secret, if they have one."""
        row = await conn.fetchrow(self._q.get_secret, user_id)
        return None if row is None else _secret(row)

    async def create_secret(self, conn: Conn, user_id: uuid.UUID, secret: str) -> bool:
        """Store `secret` as the user's unless they have one; True when this stored it."""
        row = await conn.fetchrow(self._q.create_secret, user_id, secret)
        return row is not None

    async def rotate_secret(
        self, conn: Conn, user_id: uuid.UUID, secret: str, overlap_seconds: float
    ) -> SecretRecord:
        """Make `secret` the user's; the one it replaces signs on for `overlap_seconds`."""
        row = await conn.fetchrow(self._q.rotate_secret, user_id, secret, overlap_seconds)
        assert row is not None  # an upsert always returns its row
        return _secret(row)

    async def count_endpoints(self, conn: Conn, user_id: uuid.UUID) -> int:
        """How many endpoints the user has."""
        count: int = await conn.fetchval(self._q.count_endpoints, user_id)
        return count

    async def insert_endpoint(self, conn: Conn, endpoint: EndpointRecord) -> EndpointRecord:
        """Insert `endpoint` (the database sets the timestamps)."""
        row = await conn.fetchrow(
            self._q.insert_endpoint,
            endpoint.id,
            endpoint.user_id,
            endpoint.url,
            endpoint.event_types,
            endpoint.description,
            endpoint.enabled,
        )
        assert row is not None  # INSERT ... RETURNING
        return _endpoint(row)

    async def endpoint(
        self, conn: Conn, endpoint_id: uuid.UUID, user_id: uuid.UUID
    ) -> EndpointRecord | None:
        """The user's endpoint; None when missing or someone else's."""
        row = await conn.fetchrow(self._q.get_endpoint, endpoint_id, user_id)
        return None if row is None else _endpoint(row)

    async def list_endpoints(
        self,
        conn: Conn,
        user_id: uuid.UUID,
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[EndpointRecord]:
        """The user's endpoints, newest first, after a keyset position."""
        at, row_id = after if after is not None else (None, None)
        rows = await conn.fetch(self._q.list_endpoints, user_id, at, row_id, limit)
        return [_endpoint(r) for r in rows]

    async def update_endpoint(self, conn: Conn, e: EndpointRecord) -> EndpointRecord | None:
        """Write every changeable field of `e`; None when it is gone."""
        row = await conn.fetchrow(
            self._q.update_endpoint,
            e.id,
            e.user_id,
            e.url,
            e.event_types,
            e.description,
            e.enabled,
            e.disabled_reason,
            e.consecutive_failures,
            e.failing_since,
        )
        return None if row is None else _endpoint(row)

    async def delete_endpoint(self, conn: Conn, endpoint_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """Delete the user's endpoint and its deliveries; False when there was none."""
        status: str = await conn.execute(self._q.delete_endpoint, endpoint_id, user_id)
        return status.endswith(" 1")

    async def fail_pending(self, conn: Conn, endpoint_id: uuid.UUID) -> None:
        """End a disabled endpoint's pending deliveries as failed."""
        await conn.execute(self._q.fail_pending_of_endpoint, endpoint_id)

    async def enqueue(
        self,
        conn: Conn,
        *,
        user_id: uuid.UUID,
        event_type: str,
        execution_id: uuid.UUID,
        body: str,
        message_id: str,
    ) -> int:
        """Queue one event's deliveries (endpoints and callback URL); returns how many."""
        status: str = await conn.execute(
            self._q.enqueue_deliveries, user_id, event_type, execution_id, body, message_id
        )
        return int(status.rsplit(" ", 1)[-1])

    async def claim_due(
        self, conn: Conn, limit: int, lease_seconds: float, per_user: int
    ) -> list[DueDelivery]:
        """Lease up to `limit` due deliveries for `lease_seconds`, `per_user` in flight at most."""
        rows = await conn.fetch(self._q.claim_due, limit, lease_seconds, per_user)
        return [
            DueDelivery(
                id=r["id"],
                message_id=r["message_id"],
                user_id=r["user_id"],
                endpoint_id=r["endpoint_id"],
                url=r["url"],
                enabled=r["enabled"],
                body=r["body"],
                attempts=r["attempts"],
                secrets=tuple(s for s in (r["secret"], r["previous_secret"]) if s),
            )
            for r in rows
        ]

    async def record_attempt(self, conn: Conn, delivery_id: uuid.UUID, r: AttemptResult) -> None:
        """Log an attempt and move the delivery on."""
        await conn.execute(
            self._q.record_attempt,
            delivery_id,
            r.attempted_at,
            r.status_code,
            r.latency_ms,
            r.error,
            r.state,
            r.next_attempt_at,
        )

    async def endpoint_succeeded(self, conn: Conn, endpoint_id: uuid.UUID) -> None:
        """Clear the endpoint's run of failures."""
        await conn.execute(self._q.endpoint_succeeded, endpoint_id)

    async def endpoint_failed(
        self, conn: Conn, endpoint_id: uuid.UUID, at: dt.datetime
    ) -> tuple[int, dt.datetime | None]:
        """Count a failure; returns (failures in a row, since when)."""
        row = await conn.fetchrow(self._q.endpoint_failed, endpoint_id, at)
        if row is None:  # deleted meanwhile
            return 0, None
        return row["consecutive_failures"], row["failing_since"]

    async def disable_endpoint(self, conn: Conn, endpoint_id: uuid.UUID, reason: str) -> None:
        """Stop deliveries to an endpoint, and end its pending ones."""
        await conn.execute(self._q.disable_endpoint, endpoint_id, reason)
        await self.fail_pending(conn, endpoint_id)

    async def list_deliveries(
        self,
        conn: Conn,
        endpoint_id: uuid.UUID,
        user_id: uuid.UUID,
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[DeliveryRecord]:
        """An endpoint's deliveries (the user's only), newest first, each with its attempts."""
        at, row_id = after if after is not None else (None, None)
        rows = await conn.fetch(self._q.list_deliveries, endpoint_id, user_id, at, row_id, limit)
        found = [_delivery(r) for r in rows]
        return await self._with_attempts(conn, found)

    async def redeliver(
        self, conn: Conn, delivery_id: uuid.UUID, endpoint_id: uuid.UUID, user_id: uuid.UUID
    ) -> DeliveryRecord | None:
        """Make a delivery due now; None when it is not this user's endpoint's."""
        row = await conn.fetchrow(self._q.redeliver, delivery_id, endpoint_id, user_id)
        if row is None:
            return None
        return (await self._with_attempts(conn, [_delivery(row)]))[0]

    async def _with_attempts(
        self, conn: Conn, deliveries: Sequence[DeliveryRecord]
    ) -> list[DeliveryRecord]:
        if not deliveries:
            return []
        rows = await conn.fetch(self._q.attempts_of, [d.id for d in deliveries])
        logs: dict[uuid.UUID, list[AttemptRecord]] = {}
        for r in rows:
            logs.setdefault(r["delivery_id"], []).append(
                AttemptRecord(
                    attempt=r["attempt"],
                    attempted_at=r["attempted_at"],
                    status_code=r["status_code"],
                    latency_ms=r["latency_ms"],
                    error=r["error"],
                )
            )
        return [replace(d, attempt_log=tuple(logs.get(d.id, ()))) for d in deliveries]

    async def purge(self, conn: Conn, retention_days: int) -> int:
        """Delete finished deliveries older than `retention_days`; returns how many."""
        status: str = await conn.execute(self._q.purge_deliveries, retention_days)
        return int(status.rsplit(" ", 1)[-1])

    async def pending_count(self, conn: Conn) -> int:
        """How many deliveries are owed (a gauge)."""
        count: int = await conn.fetchval(self._q.pending_deliveries)
        return count

    async def set_task_callback(self, conn: Conn, task_id: uuid.UUID, url: str | None) -> None:
        """Set (or with None, remove) a task's callback URL."""
        if url is None:
            await conn.execute(self._q.clear_task_callback, task_id)
        else:
            await conn.execute(self._q.set_task_callback, task_id, url)

    async def task_callbacks(
        self, conn: Conn, task_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        """The callback URLs of those tasks that have one."""
        if not task_ids:
            return {}
        rows = await conn.fetch(self._q.task_callbacks, list(task_ids))
        return {r["task_id"]: r["url"] for r in rows}
