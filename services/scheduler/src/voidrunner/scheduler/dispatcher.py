"""Turning accepted executions into jobs: per-user admission, then the lane of their priority."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from voidrunner.common.logs import get_logger
from voidrunner.common.settings import IDLE_FETCH_SECONDS
from voidrunner.common.tracing import TRACING_OFF, SpanKind, Tracing, with_trace
from voidrunner.contracts import topology as t
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.scheduler.inflight import InflightTracker

_log = get_logger("voidrunner.scheduler.dispatch")


class Delivery(Protocol):
    """A message from a durable consumer, to settle once handled (a nats-py Msg)."""

    @property
    def data(self) -> bytes: ...

    @property
    def headers(self) -> dict[str, str] | None: ...

    async def ack(self) -> None: ...

    async def nak(self, delay: float | None = None) -> None: ...

    async def term(self) -> None: ...


class JobPublisher(Protocol):
    """Where dispatched jobs go (JetStream), de-duplicated by their Nats-Msg-Id header."""

    async def publish(
        self, subject: str, payload: bytes = b"", *, headers: dict[str, str] | None = None
    ) -> object: ...


class CancelledSet(Protocol):
    """The bucket of executions cancelled before they ran: `get` raises for an absent id."""

    async def get(self, key: str) -> object: ...


async def pull_loop(
    js: JetStreamContext,
    stream: str,
    config: ConsumerConfig,
    handle: Callable[[Msg], Awaitable[None]],
    stop: asyncio.Event,
    ready: Callable[[], None] = lambda: None,
    idle_fetch_seconds: float = IDLE_FETCH_SECONDS,
) -> None:
    """Bind a durable pull consumer (`ready()` once bound), then hand each message to `handle`
    until `stop`.

    A fetch that fails for another reason than an idle timeout (the consumer or its stream was
    deleted, JetStream refuses) ends the loop with that error: fetching again from a consumer
    that is gone would fail forever while looking alive. Its supervisor binds again after a
    back-off. While NATS is disconnected a fetch only times out, and nats-py reconnects itself.
    """
    await js.add_consumer(stream, config)
    sub = await js.pull_subscribe_bind(durable=config.durable_name, stream=stream)
    ready()
    try:
        while not stop.is_set():
            try:
                # One at a time: nats-py's fetch(n > 1) holds a message that arrived on an idle
                # stream until the rest of the batch or the request's expiry (up to 1 s per
                # job); fetch(1) returns as soon as one is there.
                msgs = await sub.fetch(1, timeout=idle_fetch_seconds)
            except (TimeoutError, NatsTimeoutError):
                continue
            for msg in msgs:
                try:
                    await handle(msg)
                except Exception:  # one bad message must not stop the loop; it is redelivered
                    _log.exception("message handling failed", stream=stream)
                    with contextlib.suppress(Exception):
                        await msg.nak(delay=2)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


class Dispatcher:
    """Moves requests to job lanes and releases per-user slots when results arrive."""

    def __init__(
        self,
        js: JobPublisher,
        tracker: InflightTracker,
        cancelled: CancelledSet,
        *,
        retry_delay: float,
        slot_ttl_extra: float,
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        self._js = js
        self._tracing = tracing
        self._tracker = tracker
        self._cancelled = cancelled
        self._retry_delay = retry_delay
        self._slot_ttl_extra = slot_ttl_extra

    def requests_consumer(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=t.SCHEDULER_CONSUMER,
            filter_subject=t.REQUESTS_SUBJECT,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30.0,
            max_deliver=-1,
        )

    def results_consumer(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=t.SCHEDULER_EVENTS_CONSUMER,
            filter_subjects=[t.RESULT_SUBJECT, t.PIPELINE_RESULT_SUBJECT],
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW,
            ack_wait=30.0,
            max_deliver=-1,
        )

    async def on_request(self, msg: Delivery) -> None:
        """Admit and publish one accepted execution, or ask for it again later; in the trace
        of the request that queued it."""
        with self._tracing.span(
            "schedule",
            headers=msg.headers,
            kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.operation.type": "process"},
        ):
            await self._on_request(msg)

    async def _on_request(self, msg: Delivery) -> None:
        try:
            job = jobs_pb2.Job.FromString(msg.data)
        except DecodeError:
            _log.error("malformed request terminated", size=len(msg.data))
            await msg.term()
            return
        if not job.execution_id or not job.user_id:
            _log.error("request without ids terminated")
            await msg.term()
            return
        expires = time.time() + max(job.limits.timeout_seconds, 1) + self._slot_ttl_extra
        # Both are NATS round trips on every execution's way to a sandbox: ask at once. A
        # cancelled execution is rare, and then the slot it may just have taken is given back.
        cancelled, admitted = await asyncio.gather(
            self._is_cancelled(job.execution_id),
            self._tracker.try_admit(job.user_id, job.execution_id, expires),
        )
        if cancelled:
            if admitted:
                await self._tracker.release(job.execution_id, job.user_id)
            await msg.ack()
            return
        if not admitted:
            await msg.nak(delay=self._retry_delay)
            return
        job.attempt = max(job.attempt, 1)
        lane = t.lane_for_priority(job.priority)
        # As it came: whoever queued the request spilled large inputs already (contracts.jobs).
        await self._js.publish(
            t.job_subject(lane),
            job.SerializeToString(),
            headers=with_trace({t.MSG_ID_HEADER: t.job_msg_id(job.execution_id, job.attempt)}),
        )
        await msg.ack()
        _log.info("dispatched", execution_id=job.execution_id, lane=lane, attempt=job.attempt)

    async def on_result(self, msg: Delivery) -> None:
        """Release the slot of a finished execution."""
        try:
            result = jobs_pb2.ExecutionResult.FromString(msg.data)
        except DecodeError:
            await msg.term()
            return
        await self._tracker.release(result.execution_id, result.user_id)
        await msg.ack()

    async def _is_cancelled(self, execution_id: str) -> bool:
        try:
            await self._cancelled.get(execution_id)
        except Exception:  # not found (or not readable): schedule it
            return False
        return True
