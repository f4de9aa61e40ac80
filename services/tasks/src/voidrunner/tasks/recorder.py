"""Recording the pipeline's events: an executor started a run, or a run ended.

Events arrive from VR_EVENTS through a durable consumer, possibly more than once and in any
order (a redelivered job, two executors racing, a result from the scheduler's dead-letter path).
Recording goes through the one state machine, so it is idempotent: a final state never changes,
a second result for the same execution is acknowledged and dropped, a "started" after the result
is ignored, and an event for an unknown execution is logged and dropped.

An executor's events count only under the attempt's current claim (tasks.attempt_claims): a
stale executor's or a forged result is logged and dropped. The pipeline's own results arrive on
a subject only the scheduler may publish to and need no claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import uuid
from dataclasses import replace
from datetime import UTC as _UTC

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from voidrunner.common.db import UNAVAILABLE_ERRORS
from voidrunner.common.logs import get_logger
from voidrunner.common.settings import IDLE_FETCH_SECONDS
from voidrunner.common.tracing import TRACING_OFF, SpanKind, Tracing
from voidrunner.contracts import topology as t
from voidrunner.contracts.claims import Claim, claim_hash
from voidrunner.contracts.execution import (
    Status,
    Verdict,
    parse_reason,
    status_for,
    status_for_cases,
)
from voidrunner.contracts.output import (
    MAX_COMPILE_OUTPUT_BYTES,
    MAX_DETAIL_CHARS,
    MAX_OUTPUT_CAP_BYTES,
    replay_layout,
)
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks.errors import ClaimRefused, ExecutionNotFound, InvalidTransition
from voidrunner.tasks.executions import ExecutionService, ExecutionUpdate
from voidrunner.tasks.metrics import recorded
from voidrunner.tasks.outputs import JetStreamOutputs, OutputLost, OutputStore
from voidrunner.tasks.service import Caller

_log = get_logger("voidrunner.tasks.recorder")
PIPELINE = Caller(user_id=uuid.UUID(int=0), role="service")
_SIGNAL = re.compile(r"^SIG[A-Z0-9+-]{1,13}$")


def status_of(result: jobs_pb2.ExecutionResult) -> Status:
    """The execution status a result means (see voidrunner.contracts.execution)."""
    reason = parse_reason(result.termination_reason)
    if result.total > 0:  # test cases: completed when every one passed
        return status_for_cases(reason, result.passed, result.total)
    code = result.return_code if result.HasField("return_code") else None
    return status_for(reason, code)


def case_record(
    result: jobs_pb2.ExecutionResult, output: jobs_pb2.RunOutput | None
) -> jobs_pb2.CaseRecord | None:
    """What is stored of a result's test cases, bounded like every output."""
    if not result.cases:
        return None
    hidden = {c.index for c in result.cases if c.hidden}
    outputs = []
    for case in output.case_outputs if output is not None else []:
        if case.index in hidden:  # a broken executor's leak stops here
            continue
        outputs.append(
            jobs_pb2.CaseOutput(
                index=case.index,
                stdout=case.stdout[:MAX_OUTPUT_CAP_BYTES],
                stderr=case.stderr[:MAX_OUTPUT_CAP_BYTES],
            )
        )
    return jobs_pb2.CaseRecord(
        results=result.cases,
        outputs=outputs,
        marks=output.marks if output is not None else [],
    )


def _time(message: jobs_pb2.ExecutionResult | jobs_pb2.ExecutionStarted) -> dt.datetime | None:
    if not message.HasField("started_at"):
        return None
    return message.started_at.ToDatetime(tzinfo=_UTC)


def result_update(
    result: jobs_pb2.ExecutionResult, output: jobs_pb2.RunOutput | None, lost: str = ""
) -> ExecutionUpdate:
    """The state-machine update for a result event and the output it carried (or spilled).

    What an executor reports is input like any other: sizes are bounded, a chunk layout that
    does not add up is dropped, a signal must look like one.
    """
    reason = parse_reason(result.termination_reason)
    stdout = stderr = compile_output = None
    spans = None
    cases = case_record(result, output)
    if output is not None:
        stdout = output.stdout[:MAX_OUTPUT_CAP_BYTES]
        stderr = output.stderr[:MAX_OUTPUT_CAP_BYTES]
        compile_output = output.compile_output[:MAX_COMPILE_OUTPUT_BYTES] or None
        layout = list(output.spans)
        streams = {0: (stdout, stderr)}
        streams.update({c.index: (c.stdout, c.stderr) for c in (cases.outputs if cases else [])})
        spans = layout if replay_layout(layout, output.marks, streams) is not None else None
    detail = result.termination_detail
    if lost:
        detail = f"{detail}; " if detail else ""
        detail += f"the output could not be retrieved: {lost}"
    signal = result.exit_signal if _SIGNAL.match(result.exit_signal) else None
    return ExecutionUpdate(
        status=status_of(result).value,
        return_code=None
        if signal
        else (result.return_code if result.HasField("return_code") else None),
        stdout=stdout,
        stderr=stderr,
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        execution_time_ms=max(result.execution_time_ms, 0),
        memory_usage_bytes=max(result.memory_usage_bytes, 0) or None,
        cpu_time_ms=max(result.cpu_time_ms, 0),
        exit_signal=signal,
        compile_output=compile_output,
        compile_time_ms=max(result.compile_time_ms, 0)
        if result.HasField("compile_time_ms")
        else None,
        output_spans=spans,
        termination_reason=reason.value,
        termination_detail=detail[:MAX_DETAIL_CHARS] or None,
        attempt=result.attempt or None,
        started_at=_time(result),
        verdict=_verdict(result.verdict),
        passed=result.passed,
        total=result.total,
        cases=cases,
        from_run=True,
    )


def _verdict(text: str) -> str | None:
    try:
        return Verdict(text).value if text else None
    except ValueError:
        return Verdict.INTERNAL_ERROR.value


def started_update(started: jobs_pb2.ExecutionStarted) -> ExecutionUpdate:
    """The state-machine update for an executor's claim of an attempt."""
    at = _time(started)
    deadline = None
    if at is not None and started.max_duration_ms > 0:
        deadline = at + dt.timedelta(milliseconds=started.max_duration_ms)
    return ExecutionUpdate(
        status=Status.RUNNING.value,
        attempt=started.attempt or None,
        started_at=at,
        deadline_at=deadline,
        claim=claim_hash(started.claim),
    )


class Unclaimed(Exception):
    """An executor's event without a claim: never recorded."""


class EventRecorder:
    """Consumes VR_EVENTS and records started/result events through ExecutionService.update."""

    def __init__(
        self,
        executions: ExecutionService,
        outputs: OutputStore | None = None,
        *,
        fetch_timeout: float = IDLE_FETCH_SECONDS,
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        """`outputs` is where spilled outputs are read (by default VR_OUTPUT, once `run` has
        its JetStream context)."""
        self._executions = executions
        self._outputs = outputs
        self._fetch_timeout = fetch_timeout
        self._tracing = tracing

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
        """Apply one event; raises only for failures worth a redelivery (database or NATS down)."""
        try:
            decoded = await self._decode(subject, data)
        except DecodeError:
            _log.error("malformed event dropped", subject=subject, size=len(data))
            return
        except Unclaimed:
            _log.error("executor event without a claim dropped", subject=subject)
            return
        if decoded is None:
            _log.warning("event on an unknown subject dropped", subject=subject)
            return
        execution_id, change, spilled = decoded
        recorded = await self._record(subject, execution_id, change)
        # Only once recorded: a refused forgery must not purge the real attempt's output.
        if recorded and spilled is not None and self._outputs is not None:
            with contextlib.suppress(Exception):  # the stream's max age removes it anyway
                await self._outputs.purge(spilled.execution_id, spilled.attempt)

    async def _decode(
        self, subject: str, data: bytes
    ) -> tuple[str, ExecutionUpdate, jobs_pb2.ExecutionResult | None] | None:
        """(execution id, its update, the result if its output was spilled); None for an
        unknown subject. Executors' events must carry a claim (Unclaimed otherwise)."""
        if subject == t.STARTED_SUBJECT:
            started = jobs_pb2.ExecutionStarted.FromString(data)
            if not started.claim:
                raise Unclaimed(started.execution_id)
            return started.execution_id, started_update(started), None
        if subject not in (t.RESULT_SUBJECT, t.PIPELINE_RESULT_SUBJECT):
            return None
        result = jobs_pb2.ExecutionResult.FromString(data)
        from_executor = subject == t.RESULT_SUBJECT
        if from_executor and not result.claim:
            raise Unclaimed(result.execution_id)
        change = await self._result_update(result)
        if from_executor:
            change = replace(change, claim=claim_hash(result.claim))
        spilled = result if result.HasField("spilled_output") else None
        return result.execution_id, change, spilled

    async def _record(self, subject: str, execution_id: str, change: ExecutionUpdate) -> bool:
        """Apply `change`; True when it was recorded."""
        try:
            await self._apply(execution_id, change)
        except ExecutionNotFound:
            _log.warning("event for an unknown execution dropped", execution_id=execution_id)
        except InvalidTransition as exc:
            # Already final (a duplicate result, or a started after the end): nothing to do.
            _log.info("event ignored", execution_id=execution_id, reason=str(exc))
            return True
        except ClaimRefused as exc:
            # A stale executor (its attempt was taken over) or a forgery: never recorded.
            _log.warning(
                "event refused",
                execution_id=execution_id,
                subject=subject,
                attempt=change.attempt,
                reason=exc.reason,
            )
        except Exception as exc:  # FieldErrors and the like: a bad event, never retried
            if _is_retryable(exc):
                raise
            _log.error("event rejected", execution_id=execution_id, error=str(exc))
        else:
            return True
        return False

    async def _result_update(self, result: jobs_pb2.ExecutionResult) -> ExecutionUpdate:
        if result.HasField("inline_output"):
            return result_update(result, result.inline_output)
        if not result.HasField("spilled_output"):
            return result_update(result, None)
        if self._outputs is None:
            raise RuntimeError("no output store to read a spilled output from")
        try:
            output = await self._outputs.fetch(
                result.execution_id,
                result.attempt,
                Claim(result.claim).tag,
                result.spilled_output,
            )
        except OutputLost as exc:
            _log.error("spilled output lost", execution_id=result.execution_id, error=str(exc))
            return result_update(result, None, lost=str(exc))
        return result_update(result, output)

    async def _apply(self, execution_id: str, change: ExecutionUpdate) -> None:
        try:
            await self._executions.update(PIPELINE, execution_id, change)
        except InvalidTransition:
            if change.status != Status.COMPLETED.value:
                raise
            # A success for a run whose "started" was never recorded: pending cannot jump to
            # completed, so record the start first (a no-op when it is already final).
            started = ExecutionUpdate(
                status=Status.RUNNING.value,
                attempt=change.attempt,
                started_at=change.started_at,
                claim=change.claim,  # the same claim: a refused result starts nothing either
            )
            await self._executions.update(PIPELINE, execution_id, started)
            await self._executions.update(PIPELINE, execution_id, change)

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Consume events until `stop`; NATS or database trouble means retry, not exit."""
        if self._outputs is None:
            self._outputs = JetStreamOutputs(js)
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
        # Log chunks are not recorded here; started and result events continue their run's
        # trace (the executor's span), and the final notice sent on recording goes on from here.
        with self._tracing.span(
            "record " + msg.subject.rpartition(".")[2][:32],
            headers=msg.headers,
            kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.destination.name": msg.subject},
        ):
            await self._settle(msg)

    async def _settle(self, msg: Msg) -> None:
        try:
            await self.record(msg.subject, msg.data)
            recorded(msg.subject, _stored_at(msg), dt.datetime.now(_UTC))
        except Exception:  # the database is away: have it redelivered later
            _log.warning("event recording failed; will retry", exc_info=True)
            with contextlib.suppress(Exception):
                await msg.nak(delay=2)
            return
        with contextlib.suppress(Exception):
            await msg.ack()


def _stored_at(msg: Msg) -> dt.datetime | None:
    """When the stream stored `msg` (None when it carries no JetStream metadata)."""
    try:
        return msg.metadata.timestamp
    except Exception:  # not a JetStream message (tests feed plain ones)
        return None


def _is_retryable(exc: Exception) -> bool:
    # A database shutting down or starting up (57P0x) is an outage too: redeliver, never drop.
    return isinstance(exc, UNAVAILABLE_ERRORS)
