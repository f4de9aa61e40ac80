"""An execution as the API shows it: text and exact bytes of its output, its cases, what ran.

Hidden test cases show only their verdict, time, CPU and memory, to every caller, and a one-shot
run's own record of them (`run.test_cases`) only their name; lists carry summaries (no output,
no cases, no `run`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from voidrunner.contracts.execution import Status
from voidrunner.contracts.output import base64_text, text_form
from voidrunner.gateway.schemas.executions import (
    CaseView,
    Execution,
    ExecutionLimits,
    RunTestCase,
    RunView,
)
from voidrunner.gateway.schemas.inputs import file_body, test_case_body
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.proto.tasks.v1 import tasks_pb2

__all__ = ["execution_body", "optional", "output_fields"]

MIB = 1024 * 1024


def _time(message: Any, name: str) -> dt.datetime | None:
    if not message.HasField(name):
        return None
    value: dt.datetime = getattr(message, name).ToDatetime(tzinfo=dt.UTC)
    return value


def optional(message: Any, name: str) -> Any:
    """A message's field, or None when it is not set."""
    return getattr(message, name) if message.HasField(name) else None


_opt = optional


def output_fields(
    name: str, data: bytes, *, cut: bool = False, nul: bool = False
) -> dict[str, str]:
    """`name` as text, and `name_base64` beside it when the text is not exactly `data`."""
    text, exact = text_form(data, cut=cut, nul=nul)
    return {name: text} if exact else {name: text, f"{name}_base64": base64_text(data)}


def _present(e: Any, name: str, cut: bool = False) -> dict[str, str]:
    if not e.HasField(name):
        return {}
    data: bytes = getattr(e, name)
    return output_fields(name, data, cut=cut)


def _case(result: jobs_pb2.CaseResult, output: jobs_pb2.CaseOutput | None) -> CaseView:
    view: dict[str, Any] = {
        "index": result.index,
        "name": result.name,
        "hidden": result.hidden,
        "verdict": result.verdict,
        "execution_time_ms": result.execution_time_ms,
        "cpu_time_ms": result.cpu_time_ms,
        "memory_usage_bytes": result.memory_usage_bytes,
    }
    if not result.hidden:
        view["termination_reason"] = result.termination_reason or None
        view["return_code"] = _opt(result, "return_code")
        view["exit_signal"] = result.exit_signal or None
        view["stdout_truncated"] = result.stdout_truncated
        view["stderr_truncated"] = result.stderr_truncated
        if output is not None:
            view.update(output_fields("stdout", output.stdout, cut=result.stdout_truncated))
            view.update(output_fields("stderr", output.stderr, cut=result.stderr_truncated))
    return CaseView(**view)


def _cases(e: tasks_pb2.Execution) -> list[CaseView] | None:
    if not e.HasField("cases"):
        return None
    outputs = {o.index: o for o in e.cases.outputs}
    return [_case(r, outputs.get(r.index)) for r in e.cases.results]


def _run_case(case: jobs_pb2.TestCase) -> RunTestCase:
    # A hidden case's name alone leaves the service: nothing of its input or expected output.
    if case.hidden:
        return RunTestCase(name=case.name, hidden=True)
    return RunTestCase(**test_case_body(case, owner=True).model_dump(exclude_none=True))


def _run(e: tasks_pb2.Execution) -> RunView | None:
    if not e.HasField("inputs"):
        return None
    inputs = e.inputs
    stdin = output_fields("stdin", inputs.stdin, nul=True) if inputs.stdin else {}
    judged = len(inputs.test_cases) > 0
    return RunView(
        script_content=None if inputs.files else inputs.source,
        files=[file_body(f) for f in inputs.files] or None,
        entrypoint=inputs.entrypoint or None,
        args=list(inputs.args) or None,
        stdin=stdin.get("stdin") if "stdin_base64" not in stdin else None,
        stdin_base64=stdin.get("stdin_base64"),
        test_cases=[_run_case(c) for c in inputs.test_cases] if judged else None,
        stop_on_first_failure=inputs.stop_on_first_failure if judged else None,
    )


def _limits(e: tasks_pb2.Execution) -> ExecutionLimits | None:
    if not e.HasField("limits"):
        return None
    return ExecutionLimits(
        timeout_seconds=e.limits.timeout_seconds,
        memory_limit_mb=e.limits.memory_bytes // MIB,
        cpu_limit=e.limits.cpu,
        max_output_bytes=e.limits.max_output_bytes,
    )


def execution_body(e: tasks_pb2.Execution) -> Execution:
    """The public form of an execution."""
    judged = e.total > 0
    # With test cases, output lives with each case; top-level streams are empty.
    streams = (
        {}
        if judged
        else {
            **_present(e, "stdout", e.stdout_truncated),
            **_present(e, "stderr", e.stderr_truncated),
        }
    )
    return Execution(
        id=uuid.UUID(e.id),
        task_id=uuid.UUID(e.task_id) if e.task_id else None,
        status=Status(e.status),
        script_type=e.script_type or None,
        version=e.version or None,
        limits=_limits(e),
        run=_run(e),
        verdict=_opt(e, "verdict"),
        passed=e.passed if judged else None,
        total=e.total if judged else None,
        cases=_cases(e),
        return_code=_opt(e, "return_code"),
        exit_signal=_opt(e, "exit_signal"),
        **streams,
        **_present(e, "compile_output"),
        stdout_truncated=e.stdout_truncated,
        stderr_truncated=e.stderr_truncated,
        termination_reason=_opt(e, "termination_reason"),
        termination_detail=_opt(e, "termination_detail"),
        execution_time_ms=_opt(e, "execution_time_ms"),
        cpu_time_ms=_opt(e, "cpu_time_ms"),
        memory_usage_bytes=_opt(e, "memory_usage_bytes"),
        compile_time_ms=_opt(e, "compile_time_ms"),
        attempt=e.attempt,
        started_at=_time(e, "started_at"),
        completed_at=_time(e, "completed_at"),
        created_at=e.created_at.ToDatetime(tzinfo=dt.UTC),
        started_by=uuid.UUID(e.started_by) if e.started_by else None,
    )
