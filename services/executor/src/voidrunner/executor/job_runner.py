"""Running one job: started event, sandbox run with live logs, result event.

This module knows the job and result messages and the sandbox contract; it does not know how
jobs arrive (see consumer.py). No message it publishes grows with what the program printed: a
result carries its output inline up to contracts.output.INLINE_OUTPUT_BYTES and otherwise spills
it in bounded parts to VR_OUTPUT first (a durable stream), the result naming their count, size
and digest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass

from nats.js.client import JetStreamContext

from voidrunner.common.logs import get_logger
from voidrunner.common.tracing import TRACING_OFF, Tracing, with_trace
from voidrunner.contracts import topology as t
from voidrunner.contracts.claims import Claim
from voidrunner.contracts.execution import TerminationReason, Verdict
from voidrunner.contracts.jobs import job_inputs
from voidrunner.contracts.output import INLINE_OUTPUT_BYTES
from voidrunner.contracts.results import bounded_detail, sandbox_error_result, timestamp
from voidrunner.contracts.runtimes import RuntimeCatalog
from voidrunner.contracts.spill import SpillLost, publish_parts
from voidrunner.executor.judge import Judged, judge
from voidrunner.executor.log_publisher import LogPublisher
from voidrunner.executor.metrics import observe_overhead
from voidrunner.executor.sandbox.build import Prepared
from voidrunner.executor.sandbox.limits import TaskLimits, cap_limits, resolve_limits
from voidrunner.executor.sandbox.types import (
    Limits,
    RunRequest,
    RunResult,
    RuntimeUnavailable,
    Sandbox,
    SandboxError,
    SourceFile,
    catalog_spec,
)
from voidrunner.proto.jobs.v1 import jobs_pb2

_log = get_logger("voidrunner.executor.runner")
# Beyond the step timeouts: kills, cleanup and a compile artifact's trip to the run sandbox.
DURATION_SLACK_SECONDS = 15.0


class RetryLater(Exception):
    """The sandbox failed in a way another attempt (maybe elsewhere) may not."""


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    executor_id: str
    caps: Limits
    log_batch_bytes: int
    log_batch_ms: int


def run_request(
    job: jobs_pb2.Job, inputs: jobs_pb2.RunInputs, catalog: RuntimeCatalog, caps: Limits
) -> RunRequest:
    """The sandbox request for `job`: unset limits take the runtime's defaults, all capped."""
    spec = catalog_spec(catalog, job.runtime)
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
        source=inputs.source,
        stdin=inputs.stdin,
        env=dict(inputs.env),
        limits=resolve_limits(asked, defaults=spec.default_limits, caps=caps),
        run_id=job.execution_id,
        files=tuple(SourceFile(f.path, f.content) for f in inputs.files),
        entrypoint=inputs.entrypoint,
        args=tuple(inputs.args),
    )


def max_duration_seconds(
    request: RunRequest, runs: int, catalog: RuntimeCatalog, caps: Limits
) -> float:
    """The longest a run of `request` can take: its compile step, its `runs` run steps (one per
    test case) and slack."""
    seconds = request.limits.timeout_seconds * max(runs, 1) + DURATION_SLACK_SECONDS
    spec = catalog_spec(catalog, request.runtime)
    if spec.compile is not None:
        seconds += cap_limits(spec.compile.limits, caps).timeout_seconds
    return seconds


def run_output(result: RunResult, logs: LogPublisher) -> jobs_pb2.RunOutput:
    """What the run produced, with the chunking its live log used."""
    return jobs_pb2.RunOutput(
        stdout=result.stdout,
        stderr=result.stderr,
        spans=logs.spans,
        compile_output=result.compile_output,
        marks=logs.marks,
    )


def judged_message(
    job: jobs_pb2.Job,
    attempt: int,
    executor_id: str,
    judged: Judged,
    prepared: Prepared,
    started_at: dt.datetime,
) -> jobs_pb2.ExecutionResult:
    """The ExecutionResult of a run with test cases (its cases, verdict and counts)."""
    msg = jobs_pb2.ExecutionResult(
        execution_id=job.execution_id,
        user_id=job.user_id,
        attempt=attempt,
        executor_id=executor_id,
        termination_reason=judged.reason.value,
        execution_time_ms=judged.execution_time_ms,
        cpu_time_ms=judged.cpu_time_ms,
        memory_usage_bytes=judged.memory_usage_bytes,
        started_at=timestamp(started_at),
        finished_at=timestamp(),
        cases=judged.cases,
        verdict=judged.verdict.value,
        passed=judged.passed,
        total=judged.total,
    )
    if prepared.compile_time_ms is not None:
        msg.compile_time_ms = prepared.compile_time_ms
    return msg


def result_message(
    job: jobs_pb2.Job,
    attempt: int,
    executor_id: str,
    result: RunResult,
    started_at: dt.datetime,
) -> jobs_pb2.ExecutionResult:
    """The ExecutionResult for a finished run, without its output (see `attach_output`)."""
    msg = jobs_pb2.ExecutionResult(
        execution_id=job.execution_id,
        user_id=job.user_id,
        attempt=attempt,
        executor_id=executor_id,
        termination_reason=result.termination_reason.value,
        exit_signal=result.exit_signal or "",
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        execution_time_ms=result.execution_time_ms,
        cpu_time_ms=result.cpu_time_ms,
        memory_usage_bytes=result.memory_usage_bytes,
        started_at=timestamp(started_at),
        finished_at=timestamp(),
        termination_detail=bounded_detail(result.termination_detail),
    )
    if result.return_code is not None:
        msg.return_code = result.return_code
    if result.compile_time_ms is not None:
        msg.compile_time_ms = result.compile_time_ms
    return msg


@dataclass(slots=True)
class Finished:
    """A run's result message and the output it still has to carry."""

    result: jobs_pb2.ExecutionResult
    output: jobs_pb2.RunOutput | None = None


class JobRunner:
    """Runs jobs in the sandbox and publishes their events."""

    def __init__(
        self,
        js: JetStreamContext,
        sandbox: Sandbox,
        catalog: RuntimeCatalog,
        config: RunnerConfig,
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        self._js = js
        self._tracing = tracing
        self._sandbox = sandbox
        self._catalog = catalog
        self._config = config

    async def publish_result(self, finished: Finished) -> None:
        """Publish a final result (its output first, when too large to travel inside it).

        Every message has a stable Nats-Msg-Id (with the attempt's claim tag), so a retry after
        a failure re-publishes nothing twice.
        """
        result = finished.result
        output = finished.output
        tag = Claim(result.claim).tag
        if output is not None:
            if output.ByteSize() <= INLINE_OUTPUT_BYTES:
                result.inline_output.CopyFrom(output)
            else:
                result.spilled_output.CopyFrom(await self._spill(result, output, tag))
        await self._js.publish(
            t.RESULT_SUBJECT,
            result.SerializeToString(),
            headers=with_trace(
                {t.MSG_ID_HEADER: t.result_msg_id(result.execution_id, result.attempt, tag)}
            ),
        )

    async def _spill(
        self, result: jobs_pb2.ExecutionResult, output: jobs_pb2.RunOutput, tag: str
    ) -> jobs_pb2.Spill:
        eid, attempt = result.execution_id, result.attempt
        return await publish_parts(
            self._js,
            t.output_subject(eid, attempt),
            lambda n: t.output_msg_id(eid, attempt, n, tag),
            output.SerializeToString(),
        )

    async def run(
        self, job: jobs_pb2.Job, attempt: int, cancel: asyncio.Event, *, last_attempt: bool
    ) -> Finished:
        """Run `job` and return its result (not yet published).

        Raises RetryLater when the sandbox failed in a retryable way and attempts remain. The
        attempt runs under a fresh claim: its "started" event, log chunks and result carry it.
        """
        claim = Claim.new()
        finished = await self._claimed(job, attempt, cancel, claim, last_attempt=last_attempt)
        finished.result.claim = claim.secret
        return finished

    async def _claimed(
        self,
        job: jobs_pb2.Job,
        attempt: int,
        cancel: asyncio.Event,
        claim: Claim,
        *,
        last_attempt: bool,
    ) -> Finished:
        executor_id = self._config.executor_id
        try:
            inputs = await job_inputs(self._js, job)
        except SpillLost as exc:
            return self._error(job, attempt, f"the job's inputs could not be read: {exc}")
        try:
            request = run_request(job, inputs, self._catalog, self._config.caps)
        except RuntimeUnavailable as exc:
            return self._error(job, attempt, str(exc))
        except ValueError as exc:  # InvalidLimits and friends
            return self._error(job, attempt, f"invalid limits: {exc}")
        started_at = dt.datetime.now(dt.UTC)
        runs = len(inputs.test_cases)
        max_duration = max_duration_seconds(request, runs, self._catalog, self._config.caps)
        # Sent now, acknowledged while the sandbox starts: the wire keeps it ahead of this run's
        # result, and a lost "started" only costs the running state (the recorder accepts a
        # result straight from pending).
        started = asyncio.ensure_future(
            self._js.publish(
                t.STARTED_SUBJECT,
                jobs_pb2.ExecutionStarted(
                    execution_id=job.execution_id,
                    attempt=attempt,
                    executor_id=executor_id,
                    started_at=timestamp(started_at),
                    max_duration_ms=int(max_duration * 1000),
                    claim=claim.secret,
                ).SerializeToString(),
                headers=with_trace(
                    {t.MSG_ID_HEADER: t.started_msg_id(job.execution_id, attempt, claim.tag)}
                ),
            )
        )
        try:
            return await self._run(
                job, inputs, attempt, claim, request, cancel, started_at, last_attempt
            )
        finally:
            try:
                await started
            except Exception:
                _log.warning("started event not published")

    def _error(self, job: jobs_pb2.Job, attempt: int, detail: str) -> Finished:
        return Finished(
            sandbox_error_result(
                execution_id=job.execution_id,
                user_id=job.user_id,
                attempt=attempt,
                reporter=self._config.executor_id,
                detail=detail,
            )
        )

    async def _run(
        self,
        job: jobs_pb2.Job,
        inputs: jobs_pb2.RunInputs,
        attempt: int,
        claim: Claim,
        request: RunRequest,
        cancel: asyncio.Event,
        started_at: dt.datetime,
        last_attempt: bool,
    ) -> Finished:
        logs = LogPublisher(
            self._js,
            job.execution_id,
            attempt,
            claim.tag,
            batch_bytes=self._config.log_batch_bytes,
            batch_ms=self._config.log_batch_ms,
        )
        try:
            with self._tracing.span(
                "sandbox",
                attributes={
                    "voidrunner.sandbox.backend": self._sandbox.name,
                    "voidrunner.test_cases": len(inputs.test_cases),
                },
            ) as span:
                if inputs.test_cases:
                    return await self._judge(
                        job, inputs, attempt, request, cancel, started_at, logs
                    )
                began = time.monotonic()
                result = await self._sandbox.run(request, on_output=logs.feed, cancel=cancel)
                observe_overhead(self._sandbox.name, time.monotonic() - began, result)
                if span is not None:
                    span.set_attribute(
                        "voidrunner.termination_reason", str(result.termination_reason)
                    )
        except RuntimeUnavailable as exc:
            return self._error(job, attempt, str(exc))
        except SandboxError as exc:
            if exc.retryable and not last_attempt:
                raise RetryLater(str(exc)) from exc
            _log.warning("sandbox error", error=str(exc))
            return self._error(job, attempt, f"sandbox error: {exc}")
        finally:
            await logs.close()
        message = result_message(job, attempt, self._config.executor_id, result, started_at)
        return Finished(message, run_output(result, logs))

    async def _judge(
        self,
        job: jobs_pb2.Job,
        inputs: jobs_pb2.RunInputs,
        attempt: int,
        request: RunRequest,
        cancel: asyncio.Event,
        started_at: dt.datetime,
        logs: LogPublisher,
    ) -> Finished:
        """Compile once, then every test case in a fresh sandbox (see judge.py)."""
        executor_id = self._config.executor_id
        with self._tracing.span("compile"):
            prepared = await self._sandbox.prepare(request, cancel=cancel)
        if prepared.failed is not None:  # nothing to judge: the build's result, cases untold
            message = result_message(job, attempt, executor_id, prepared.failed, started_at)
            if prepared.failed.termination_reason is TerminationReason.COMPILE_ERROR:
                message.verdict = Verdict.COMPILE_ERROR.value
            message.total = len(inputs.test_cases)
            return Finished(message, run_output(prepared.failed, logs))
        judged = await judge(self._sandbox, prepared, inputs, logs, cancel, self._tracing)
        await logs.close()
        message = judged_message(job, attempt, executor_id, judged, prepared, started_at)
        output = jobs_pb2.RunOutput(
            spans=logs.spans,
            marks=logs.marks,
            compile_output=prepared.compile_output,
            case_outputs=judged.outputs,
        )
        return Finished(message, output)
