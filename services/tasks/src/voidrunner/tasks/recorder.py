"""Recording the pipeline's events: an executor started a run, or a run ended.

Events arrive from VR_EVENTS through a durable consumer, possibly more than once and in any
order (a redelivered job, two executors racing, a result from the scheduler's dead-letter path).
Recording goes through the one state machine, so it is idempotent: a final state never changes,
a second result for the same execution is acknowledged and dropped, a "started" after the result
is ignored, and an event for an unknown execution is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC as _UTC

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from voidrunner.common.db import UNAVAILABLE_ERRORS
from voidrunner.common.logs import get_logger
from voidrunner.contracts import topology as t
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks.errors import ExecutionNotFound, InvalidTransition
from voidrunner.tasks.executions import ExecutionService, ExecutionUpdate
from voidrunner.tasks.service import Caller
from voidrunner.tasks.state import Status, TerminationReason

_log = get_logger("voidrunner.tasks.recorder")
PIPELINE = Caller(user_id=uuid.UUID(int=0), role="service")

_REASONS = {
    jobs_pb2.TERMINATION_REASON_EXIT: TerminationReason.EXIT,
    jobs_pb2.TERMINATION_REASON_TIMEOUT: TerminationReason.TIMEOUT,
    jobs_pb2.TERMINATION_REASON_MEMORY_LIMIT: TerminationReason.MEMORY_LIMIT,
    jobs_pb2.TERMINATION_REASON_OUTPUT_LIMIT: TerminationReason.OUTPUT_LIMIT,
    jobs_pb2.TERMINATION_REASON_CANCELLED: TerminationReason.CANCELLED,
    jobs_pb2.TERMINATION_REASON_SANDBOX_ERROR: TerminationReason.SANDBOX_ERROR,
}


def status_of(result: jobs_pb2.ExecutionResult) -> tuple[Status, TerminationReason]:
    """The execution status a result means: exit 0 → completed, other endings → failed etc."""
    reason = _REASONS.get(result.termination_reason, TerminationReason.SANDBOX_ERROR)
    if reason is TerminationReason.EXIT:
        ok = result.HasField("exit_code") and result.exit_code == 0
        return (Status.COMPLETED if ok else Status.FAILED), reason
    if reason is TerminationReason.TIMEOUT:
        return Status.TIMEOUT, reason
    if reason is TerminationReason.CANCELLED:
        return Status.CANCELLED, reason
    return Status.FAILED, reason


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def result_update(result: jobs_pb2.ExecutionResult) -> ExecutionUpdate:
    """The state-machine update for a result event."""
    status, reason = status_of(result)
    return ExecutionUpdate(
        status=status.value,
        return_code=result.exit_code if result.HasField("exit_code") else None,
        stdout=_text(result.stdout),
        stderr=_text(result.stderr),
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        execution_time_ms=max(result.wall_time_ms, 0),
        memory_usage_bytes=max(result.peak_memory_bytes, 0) or None,
        termination_reason=reason.value,
        termination_detail=result.detail or None,
        attempt=result.attempt or None,
        started_at=result.started_at.ToDatetime(tzinfo=_UTC)
        if result.HasField("started_at")
        else None,
    )


class EventRecorder:
    """Consumes VR_EVENTS and records started/result events through ExecutionService.update."""

    def __init__(self, executions: ExecutionService, *, fetch_timeout: float = 1.0) -> None:
        self._executions = executions
        self._fetch_timeout = fetch_timeout

    @staticmethod
    def consumer() -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=t.TASKS_EVENTS_CONSUMER,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            # A delivery lost with its connection (a NATS restart mid-fetch) comes back after
            # ack_wait; meanwhile the execution shows running, and the reaper's end is dropped
            # as a duplicate of the executor's result. Recording is idempotent, so a short wait
            # costs at most a harmless redelivery of a slow batch.
            ack_wait=5.0,
            max_deliver=-1,
        )

    async def record(self, subject: str, data: bytes) -> None:
        """Apply one event; raises only for failures worth a redelivery (database down)."""
        try:
            if subject == t.STARTED_SUBJECT:
                started = jobs_pb2.ExecutionStarted.FromString(data)
                execution_id = started.execution_id
                change = ExecutionUpdate(
                    status=Status.RUNNING.value,
                    attempt=started.attempt or None,
                    started_at=started.started_at.ToDatetime(tzinfo=_UTC)
                    if started.HasField("started_at")
                    else None,
                )
            elif subject == t.RESULT_SUBJECT:
                result = jobs_pb2.ExecutionResult.FromString(data)
                execution_id = result.execution_id
                change = result_update(result)
            else:
                _log.warning("event on an unknown subject dropped", subject=subject)
                return
        except DecodeError:
            _log.error("malformed event dropped", subject=subject, size=len(data))
            return
        try:
            await self._apply(execution_id, change)
        except ExecutionNotFound:
            _log.warning("event for an unknown execution dropped", execution_id=execution_id)
        except InvalidTransition as exc:
            # Already final (a duplicate result, or a started after the end): nothing to do.
            _log.info("event ignored", execution_id=execution_id, reason=str(exc))
        except Exception as exc:  # FieldErrors and the like: a bad event, never retried
            if _is_retryable(exc):
                raise
            _log.error("event rejected", execution_id=execution_id, error=str(exc))

    async def _apply(self, execution_id: str, change: ExecutionUpdate) -> None:
        try:
            await self._executions.update(PIPELINE, execution_id, change)
        except InvalidTransition:
            if change.status != Status.COMPLETED.value:
                raise
            # A success for a run whose "started" was never recorded: pending cannot jump to
            # completed, so record the start first (a no-op when it is already final).
            started = ExecutionUpdate(
                status=Status.RUNNING.value, attempt=change.attempt, started_at=change.started_at
            )
            await self._executions.update(PIPELINE, execution_id, started)
            await self._executions.update(PIPELINE, execution_id, change)

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Consume events until `stop`; NATS or database trouble means retry, not exit."""
        sub = None
        while not stop.is_set():
            try:
                if sub is None:
                    await js.add_consumer(t.EVENTS_STREAM, self.consumer())
                    sub = await js.pull_subscribe_bind(
                        durable=t.TASKS_EVENTS_CONSUMER, stream=t.EVENTS_STREAM
                    )
                # One at a time: nats-py's fetch of a batch waits for the rest of the batch
                # once a message came (until the batch is full or the timeout ends); in the full
                # stack a result waited 640 ms that way after an idle spell, twice in a row.
                msgs = await sub.fetch(1, timeout=self._fetch_timeout)
            except (TimeoutError, NatsTimeoutError):
                continue
            except Exception:  # NATS restarting: bind again
                _log.warning("event fetch failed", exc_info=True)
                sub = None
                await asyncio.sleep(1.0)
                continue
            for msg in msgs:
                await self._handle(msg)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _handle(self, msg: Msg) -> None:
        try:
            await self.record(msg.subject, msg.data)
        except Exception:  # the database is away: have it redelivered later
            _log.warning("event recording failed; will retry", exc_info=True)
            with contextlib.suppress(Exception):
                await msg.nak(delay=2)
            return
        with contextlib.suppress(Exception):
            await msg.ack()


def _is_retryable(exc: Exception) -> bool:
    # A database shutting down or starting up (57P0x) is an outage too: redeliver, never drop.
    return isinstance(exc, UNAVAILABLE_ERRORS)
