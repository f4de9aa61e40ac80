"""Running one job: started event, sandbox run with live logs, result event.

This module knows the job and result messages and the sandbox contract; it does not know how
jobs arrive (see consumer.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp
from nats.js.client import JetStreamContext

from voidrunner.common.logs import get_logger
from voidrunner.contracts.topology import MSG_ID_HEADER, RESULT_SUBJECT, STARTED_SUBJECT
from voidrunner.executor.log_publisher import LogPublisher
from voidrunner.executor.sandbox.limits import TaskLimits, resolve_limits
from voidrunner.executor.sandbox.runtimes import RuntimeCatalog
from voidrunner.executor.sandbox.types import (
    Limits,
    RunRequest,
    RunResult,
    RuntimeUnavailable,
    Sandbox,
    SandboxError,
    TerminationReason,
)
from voidrunner.proto.jobs.v1 import jobs_pb2

_log = get_logger("voidrunner.executor.runner")

REASONS = {
    TerminationReason.EXIT: jobs_pb2.TERMINATION_REASON_EXIT,
    TerminationReason.TIMEOUT: jobs_pb2.TERMINATION_REASON_TIMEOUT,
    TerminationReason.MEMORY_LIMIT: jobs_pb2.TERMINATION_REASON_MEMORY_LIMIT,
    TerminationReason.OUTPUT_LIMIT: jobs_pb2.TERMINATION_REASON_OUTPUT_LIMIT,
    TerminationReason.CANCELLED: jobs_pb2.TERMINATION_REASON_CANCELLED,
    TerminationReason.SANDBOX_ERROR: jobs_pb2.TERMINATION_REASON_SANDBOX_ERROR,
}


class RetryLater(Exception):
    """The sandbox failed in a way another attempt (maybe elsewhere) may not."""


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    executor_id: str
    caps: Limits
    log_batch_bytes: int
    log_batch_ms: int


def _ts(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def run_request(job: jobs_pb2.Job, catalog: RuntimeCatalog, caps: Limits) -> RunRequest:
    """The sandbox request for `job`: unset limits take the runtime's defaults, all capped."""
    spec = catalog.get(job.runtime)  # raises RuntimeUnavailable for an unknown runtime
    lim = job.limits
    asked = TaskLimits(
        timeout_seconds=lim.timeout_seconds or None,
        memory_bytes=lim.memory_bytes or None,
        cpu=lim.cpu or None,
        max_output_bytes=lim.max_output_bytes or None,
        pids=lim.pids or None,
        tmp_bytes=lim.tmp_bytes or None,
    )
    return RunRequest(
        runtime=job.runtime,
        source=job.source,
        stdin=job.stdin,
        env=dict(job.env),
        limits=resolve_limits(asked, defaults=spec.default_limits, caps=caps),
        run_id=job.execution_id,
    )


def result_message(
    job: jobs_pb2.Job,
    attempt: int,
    executor_id: str,
    result: RunResult,
    started_at: dt.datetime,
) -> jobs_pb2.ExecutionResult:
    """The ExecutionResult for a finished run."""
    msg = jobs_pb2.ExecutionResult(
        execution_id=job.execution_id,
        user_id=job.user_id,
        attempt=attempt,
        executor_id=executor_id,
        termination_reason=REASONS[result.termination_reason],
        stdout=result.stdout,
        stderr=result.stderr,
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        wall_time_ms=result.wall_time_ms,
        cpu_time_ms=result.cpu_time_ms,
        peak_memory_bytes=result.peak_memory_bytes,
        started_at=_ts(started_at),
        finished_at=_ts(dt.datetime.now(dt.UTC)),
        detail=result.detail,
    )
    if result.exit_code is not None:
        msg.exit_code = result.exit_code
    return msg


def error_result(
    job: jobs_pb2.Job, attempt: int, executor_id: str, detail: str
) -> jobs_pb2.ExecutionResult:
    """A sandbox_error result that explains why the code could not run."""
    now = _ts(dt.datetime.now(dt.UTC))
    return jobs_pb2.ExecutionResult(
        execution_id=job.execution_id,
        user_id=job.user_id,
        attempt=attempt,
        executor_id=executor_id,
        termination_reason=jobs_pb2.TERMINATION_REASON_SANDBOX_ERROR,
        started_at=now,
        finished_at=now,
        detail=detail,
    )


class JobRunner:
    """Runs jobs in the sandbox and publishes their events."""

    def __init__(
        self, js: JetStreamContext, sandbox: Sandbox, catalog: RuntimeCatalog, config: RunnerConfig
    ) -> None:
        self._js = js
        self._sandbox = sandbox
        self._catalog = catalog
        self._config = config

    async def publish_result(self, result: jobs_pb2.ExecutionResult) -> None:
        """Publish a final result; de-duplicated per execution, so a second one is dropped."""
        await self._js.publish(
            RESULT_SUBJECT,
            result.SerializeToString(),
            headers={MSG_ID_HEADER: f"{result.execution_id}:result"},
        )

    async def run(
        self, job: jobs_pb2.Job, attempt: int, cancel: asyncio.Event, *, last_attempt: bool
    ) -> jobs_pb2.ExecutionResult:
        """Run `job` and return its result (not yet published).

        Raises RetryLater when the sandbox failed in a retryable way and attempts remain.
        """
        executor_id = self._config.executor_id
        try:
            request = run_request(job, self._catalog, self._config.caps)
        except RuntimeUnavailable as exc:
            return error_result(job, attempt, executor_id, str(exc))
        except ValueError as exc:  # InvalidLimits and friends
            return error_result(job, attempt, executor_id, f"invalid limits: {exc}")
        started_at = dt.datetime.now(dt.UTC)
        # Sent now, acknowledged while the sandbox starts: the wire keeps it ahead of this run's
        # result, and a lost "started" only costs the running state (the recorder accepts a
        # result straight from pending).
        started = asyncio.ensure_future(
            self._js.publish(
                STARTED_SUBJECT,
                jobs_pb2.ExecutionStarted(
                    execution_id=job.execution_id,
                    attempt=attempt,
                    executor_id=executor_id,
                    started_at=_ts(started_at),
                ).SerializeToString(),
                headers={MSG_ID_HEADER: f"{job.execution_id}:started:{attempt}"},
            )
        )
        try:
            return await self._run(job, attempt, request, cancel, started_at, last_attempt)
        finally:
            try:
                await started
            except Exception:
                _log.warning("started event not published", execution_id=job.execution_id)

    async def _run(
        self,
        job: jobs_pb2.Job,
        attempt: int,
        request: RunRequest,
        cancel: asyncio.Event,
        started_at: dt.datetime,
        last_attempt: bool,
    ) -> jobs_pb2.ExecutionResult:
        executor_id = self._config.executor_id
        logs = LogPublisher(
            self._js,
            job.execution_id,
            attempt,
            batch_bytes=self._config.log_batch_bytes,
            batch_ms=self._config.log_batch_ms,
        )
        try:
            result = await self._sandbox.run(request, on_output=logs.feed, cancel=cancel)
        except RuntimeUnavailable as exc:
            return error_result(job, attempt, executor_id, str(exc))
        except SandboxError as exc:
            if exc.retryable and not last_attempt:
                raise RetryLater(str(exc)) from exc
            _log.warning("sandbox error", execution_id=job.execution_id, error=str(exc))
            return error_result(job, attempt, executor_id, f"sandbox error: {exc}")
        finally:
            await logs.close()
        return result_message(job, attempt, executor_id, result, started_at)
