"""Test cases: compile once, run every case in a fresh sandbox, compare, give verdicts.

The same for every backend (it only calls Sandbox.prepare and Sandbox.execute). A case's
expected output never enters a sandbox: the comparison happens here, on the host, so a program
that looks for it finds nothing. A hidden case's output, exit code and detail never leave this
module; its verdict, time, CPU and memory do. All cases' outputs together stay within the run's
output cap (per stream): each case may use what the earlier ones left.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from voidrunner.common.tracing import TRACING_OFF, Tracing
from voidrunner.contracts.execution import (
    Compare,
    TerminationReason,
    Verdict,
    output_matches,
    overall_verdict,
    verdict_for,
)
from voidrunner.contracts.results import bounded_detail
from voidrunner.executor.log_publisher import LogPublisher
from voidrunner.executor.sandbox.build import Prepared
from voidrunner.executor.sandbox.types import CancelToken, RunResult, Sandbox
from voidrunner.proto.jobs.v1 import jobs_pb2

__all__ = ["Judged", "judge"]


@dataclass(slots=True)
class Judged:
    """Every case that ran, with the execution's figures."""

    reason: TerminationReason
    cases: list[jobs_pb2.CaseResult]
    outputs: list[jobs_pb2.CaseOutput]
    verdict: Verdict
    passed: int
    total: int
    execution_time_ms: int
    cpu_time_ms: int
    memory_usage_bytes: int


def _compare(text: str) -> Compare:
    try:
        return Compare(text) if text else Compare.TRIM_TRAILING_WHITESPACE
    except ValueError:
        return Compare.TRIM_TRAILING_WHITESPACE


def case_result(
    index: int, case: jobs_pb2.TestCase, result: RunResult, verdict: Verdict
) -> jobs_pb2.CaseResult:
    """How one case went; a hidden case keeps only its verdict, time, CPU and memory."""
    msg = jobs_pb2.CaseResult(
        index=index,
        name=case.name,
        hidden=case.hidden,
        verdict=verdict.value,
        termination_reason=result.termination_reason.value,
        execution_time_ms=result.execution_time_ms,
        cpu_time_ms=result.cpu_time_ms,
        memory_usage_bytes=result.memory_usage_bytes,
    )
    if not case.hidden:
        msg.stdout_truncated = result.stdout_truncated
        msg.stderr_truncated = result.stderr_truncated
        msg.exit_signal = result.exit_signal or ""
        msg.termination_detail = bounded_detail(result.termination_detail)
        if result.return_code is not None:
            msg.return_code = result.return_code
    return msg


async def judge(
    sandbox: Sandbox,
    prepared: Prepared,
    inputs: jobs_pb2.RunInputs,
    logs: LogPublisher,
    cancel: CancelToken | None,
    tracing: Tracing = TRACING_OFF,
) -> Judged:
    """Run every test case of `inputs` against the prepared (built) program (a span each)."""
    cases: list[jobs_pb2.CaseResult] = []
    outputs: list[jobs_pb2.CaseOutput] = []
    verdicts: list[Verdict] = []
    reason = TerminationReason.EXIT
    time_ms = cpu_ms = peak = 0
    budget = {"out": prepared.limits.max_output_bytes, "err": prepared.limits.max_output_bytes}
    for index, case in enumerate(inputs.test_cases, start=1):
        if cancel is not None and cancel.is_set():
            reason = TerminationReason.CANCELLED
            break
        await logs.start_case(index, case.name, hidden=case.hidden)
        room = max(1, min(budget.values()))
        # The case's number, never its name: a name is the user's text.
        with tracing.span("case", attributes={"voidrunner.case": index}) as span:
            result = await sandbox.execute(
                prepared,
                stdin=case.stdin,
                args=tuple(case.args) if case.has_args else tuple(inputs.args),
                on_output=logs.feed,
                cancel=cancel,
                limits=replace(prepared.limits, max_output_bytes=room),
            )
            matched = output_matches(result.stdout, case.expected_stdout, _compare(case.compare))
            verdict = verdict_for(result.termination_reason, result.return_code, matched)
            if span is not None:
                span.set_attribute("voidrunner.verdict", verdict.value)
        budget["out"] -= len(result.stdout)
        budget["err"] -= len(result.stderr)
        summary = case_result(index, case, result, verdict)
        await logs.end_case(summary)
        cases.append(summary)
        verdicts.append(verdict)
        if not case.hidden:
            outputs.append(
                jobs_pb2.CaseOutput(index=index, stdout=result.stdout, stderr=result.stderr)
            )
        time_ms += result.execution_time_ms
        cpu_ms += result.cpu_time_ms
        peak = max(peak, result.memory_usage_bytes)
        if result.termination_reason is TerminationReason.CANCELLED:
            reason = TerminationReason.CANCELLED
            break
        if verdict is not Verdict.ACCEPTED and inputs.stop_on_first_failure:
            break
    return Judged(
        reason=reason,
        cases=cases,
        outputs=outputs,
        verdict=overall_verdict(verdicts),
        passed=sum(v is Verdict.ACCEPTED for v in verdicts),
        total=len(inputs.test_cases),
        execution_time_ms=time_ms,
        cpu_time_ms=cpu_ms,
        memory_usage_bytes=peak,
    )
