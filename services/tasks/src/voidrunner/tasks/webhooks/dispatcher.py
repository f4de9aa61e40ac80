"""The delivery loop: leases due deliveries, sends each once, writes what came of it.

    webhook_deliveries ──lease (SKIP LOCKED)──▶ WebhookSender.send ──▶ attempt row + next state

Every state lives in PostgreSQL, so a restart of any service loses nothing: a delivery stays
`pending` until an attempt's result is written. A sender that dies mid-attempt leaves a lease
that runs out; the delivery is then sent again under the same `webhook-id` (at least once, and
the receiver de-duplicates). Replicas share the work through SKIP LOCKED. Woken by this
process's own status changes, and polling for everything else (retries coming due, other
replicas' events).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable

import asyncpg

from voidrunner.common.logs import get_logger
from voidrunner.tasks.metrics import WEBHOOK_ATTEMPT_SECONDS as ATTEMPT_SECONDS
from voidrunner.tasks.metrics import WEBHOOK_ATTEMPTS as ATTEMPTS
from voidrunner.tasks.metrics import WEBHOOK_ENDPOINTS_DISABLED as DISABLED
from voidrunner.tasks.metrics import WEBHOOK_PENDING as PENDING
from voidrunner.tasks.webhooks.schedule import (
    DEFAULT_POLICY,
    RetryPolicy,
    disable_reason,
    next_attempt_at,
)
from voidrunner.tasks.webhooks.sealing import SealError, SecretBox
from voidrunner.tasks.webhooks.sender import DeliveryResult, WebhookSender
from voidrunner.tasks.webhooks.store import AttemptResult, DeliveryState, DueDelivery, WebhookStore

_log = get_logger("voidrunner.tasks.webhooks")

# Pending-gauge refresh and old-delivery purge run every this many seconds.
_HOUSEKEEPING_SECONDS = 60.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookDispatcher:
    """Sends what is due, `concurrency` attempts at a time."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: WebhookStore,
        sender: WebhookSender,
        *,
        poll_seconds: float,
        concurrency: int,
        per_user: int,
        lease_seconds: float,
        retention_days: int,
        box: SecretBox,
        policy: RetryPolicy = DEFAULT_POLICY,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._pool = pool
        self._box = box
        self._store = store
        self._sender = sender
        self._poll = poll_seconds
        self._concurrency = concurrency
        self._per_user = per_user
        self._lease = lease_seconds
        self._retention = retention_days
        self._policy = policy
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Deliveries were queued in this process: look now rather than at the next poll."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event, ready: Callable[[], None]) -> None:
        """Deliver until `stop` is set; attempts in flight finish (or their leases run out)."""
        ready()
        housekept = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                if loop.time() - housekept >= _HOUSEKEEPING_SECONDS:
                    await self._housekeeping()
                    housekept = loop.time()
                free = self._concurrency - len(self._in_flight)
                claimed = await self._claim(free) if free > 0 else []
                for due in claimed:
                    task = asyncio.create_task(self._attempt(due))
                    self._in_flight.add(task)
                    task.add_done_callback(self._done)
                if claimed and len(claimed) == free:
                    # A full batch: more may be due; wait only for a free slot.
                    await self._wait_for_slot(stop)
                    continue
                self._wakeup.clear()
                await _wait_any(stop, self._wakeup, self._poll)
        finally:
            # Attempts in flight finish; one that outlives its lease is cut off (the lease
            # runs out and the delivery goes again, under the same webhook-id).
            if self._in_flight:
                _, late = await asyncio.wait(set(self._in_flight), timeout=self._lease)
                for task in late:
                    task.cancel()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("webhook attempt crashed", error=repr(task.exception()))
        self._wakeup.set()

    async def _wait_for_slot(self, stop: asyncio.Event) -> None:
        if len(self._in_flight) >= self._concurrency:
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({stopper, *self._in_flight}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()

    async def _claim(self, limit: int) -> list[DueDelivery]:
        async with self._pool.acquire() as conn:
            return await self._store.claim_due(conn, limit, self._lease, self._per_user)

    async def _housekeeping(self) -> None:
        async with self._pool.acquire() as conn:
            purged = await self._store.purge(conn, self._retention)
            PENDING.set(await self._store.pending_count(conn))
        if purged:
            _log.info("old webhook deliveries purged", count=purged)

    async def _attempt(self, due: DueDelivery) -> None:
        at = self._clock()
        if not due.enabled:
            await self._write(due, at, None, 0, "webhook disabled", DeliveryState.FAILED, None)
            return
        try:
            secrets = [self._box.open(s, due.user_id) for s in due.secrets]
        except SealError:
            # The operator's key changed: nothing signed with a wrong secret leaves.
            _log.error("webhook signing secret does not open", user_id=str(due.user_id))
            secrets = []
        if not secrets:
            await self._write(due, at, None, 0, "no signing secret", DeliveryState.FAILED, None)
            return
        result = await self._sender.send(
            due.url, message_id=due.message_id, body=due.body.encode(), secrets=secrets
        )
        ATTEMPT_SECONDS.observe(result.latency_ms / 1000)
        state, when = self._next(due, result, self._clock())
        ATTEMPTS.labels(
            "delivered" if result.succeeded else "retry" if when is not None else "failed"
        ).inc()
        await self._write(
            due, at, result.status_code, result.latency_ms, result.error, state, when, result
        )

    def _next(
        self, due: DueDelivery, result: DeliveryResult, now: dt.datetime
    ) -> tuple[str, dt.datetime | None]:
        if result.succeeded:
            return DeliveryState.DELIVERED, None
        if not result.retryable or result.disable_endpoint:
            return DeliveryState.FAILED, None
        when = next_attempt_at(
            due.attempts + 1,
            now,
            unit=random.random(),  # noqa: S311 - jitter, not a secret
            retry_after=result.retry_after,
            policy=self._policy,
        )
        return (DeliveryState.PENDING, when) if when is not None else (DeliveryState.FAILED, None)

    async def _write(
        self,
        due: DueDelivery,
        at: dt.datetime,
        status_code: int | None,
        latency_ms: int,
        error: str | None,
        state: str,
        when: dt.datetime | None,
        result: DeliveryResult | None = None,
    ) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await self._store.record_attempt(
                conn,
                due.id,
                AttemptResult(
                    attempted_at=at,
                    status_code=status_code,
                    latency_ms=latency_ms,
                    error=error,
                    state=state,
                    next_attempt_at=when,
                ),
            )
            if due.endpoint_id is None or result is None:
                return
            if result.succeeded:
                await self._store.endpoint_succeeded(conn, due.endpoint_id)
                return
            failures, since = await self._store.endpoint_failed(conn, due.endpoint_id, at)
            reason = disable_reason(
                last_status=result.status_code,
                consecutive_failures=failures,
                failing_since=since,
                now=self._clock(),
                policy=self._policy,
            )
            if reason is not None:
                await self._store.disable_endpoint(conn, due.endpoint_id, reason.value)
                DISABLED.labels(reason.value).inc()
                _log.warning(
                    "webhook endpoint disabled", webhook_id=str(due.endpoint_id), reason=reason
                )


async def _wait_any(stop: asyncio.Event, wakeup: asyncio.Event, seconds: float) -> None:
    waiters = {asyncio.create_task(stop.wait()), asyncio.create_task(wakeup.wait())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
