"""Bodies of the execution endpoints."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from voidrunner.common.text import is_storable_text as is_text
from voidrunner.contracts.execution import Compare, Status, TerminationReason, Verdict
from voidrunner.gateway.schemas.inputs import FileOut
from voidrunner.gateway.schemas.tasks import Pagination

INT32 = 2**31 - 1
INT63 = 2**63 - 1


def _output(value: str) -> str:
    # Program output may hold NUL (the service stores it replaced); lone surrogates cannot travel.
    if not is_text(value.replace("\x00", "")):
        raise ValueError("must be valid text")
    return value


Output = Annotated[str, AfterValidator(_output)]


class ExecutionLimits(BaseModel):
    """The limits the run had, named as the task fields that set them."""

    timeout_seconds: int
    memory_limit_mb: int
    cpu_limit: float
    max_output_bytes: int


class RunTestCase(BaseModel):
    """A test case a one-shot run was judged against, as it was given.

    `stdin` and `expected_stdout` are text when that is exactly the bytes, else the `*_base64`
    field alone carries them. A hidden case shows only its `name` and `hidden`: never its
    input, arguments, expected output or comparison, to any caller (its owner included).
    """

    name: str = Field(examples=["sample 1"])
    hidden: bool
    stdin: str | None = None
    stdin_base64: str | None = None
    args: list[str] | None = Field(
        default=None,
        description="The case's own arguments (they replaced the run's); omitted when it ran "
        "with the run's",
        examples=[["--verbose"]],
    )
    expected_stdout: str | None = None
    expected_stdout_base64: str | None = None
    compare: Compare | None = Field(default=None, description="Omitted for a hidden case")


class RunView(BaseModel):
    """What a one-shot run ran (a task's executions run the task)."""

    script_content: str | None = None
    files: list[FileOut] | None = None
    entrypoint: str | None = None
    args: list[str] | None = None
    stdin: str | None = None
    stdin_base64: str | None = None
    test_cases: list[RunTestCase] | None = Field(
        default=None,
        description="The cases it was judged against, in order (hidden ones by name only); "
        "omitted when it had none",
    )
    stop_on_first_failure: bool | None = Field(
        default=None,
        description="Whether judging stopped at the first failing case; with test cases only",
    )


class CaseView(BaseModel):
    """How one test case went. A hidden case shows only its verdict, time, CPU and memory."""

    index: int
    name: str
    hidden: bool
    verdict: Verdict
    execution_time_ms: int
    cpu_time_ms: int
    memory_usage_bytes: int
    termination_reason: TerminationReason | None = None
    return_code: int | None = None
    exit_signal: str | None = None
    stdout: str | None = None
    stdout_base64: str | None = None
    stderr: str | None = None
    stderr_base64: str | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None


class Execution(BaseModel):
    """Unset optional fields are omitted from responses.

    `stdout`, `stderr` and `compile_output` are always text (invalid bytes replaced, never a
    character split at a cut); whenever that text is not exactly what the program wrote, the
    `*_base64` field beside it carries the exact bytes. Lists carry summaries without them.
    """

    id: uuid.UUID
    task_id: uuid.UUID | None = Field(default=None, description="Omitted for a one-shot run")
    status: Status
    script_type: str | None = None
    version: str | None = None
    limits: ExecutionLimits | None = None
    run: RunView | None = Field(default=None, description="A one-shot run's program")
    verdict: Verdict | None = Field(
        default=None, description="With test cases: the first case's verdict that is not accepted"
    )
    passed: int | None = None
    total: int | None = None
    cases: list[CaseView] | None = None
    return_code: int | None = Field(
        default=None, description="The exit status; omitted when a signal ended the program"
    )
    exit_signal: str | None = Field(
        default=None, description="The signal that ended the program", examples=["SIGKILL"]
    )
    stdout: str | None = None
    stdout_base64: str | None = None
    stderr: str | None = None
    stderr_base64: str | None = None
    stdout_truncated: bool
    stderr_truncated: bool
    termination_reason: TerminationReason | None = None
    # new: why it ended that way, in words (e.g. the cause of a sandbox_error)
    termination_detail: str | None = None
    execution_time_ms: int | None = Field(default=None, description="Wall time of the run alone")
    cpu_time_ms: int | None = None
    memory_usage_bytes: int | None = Field(default=None, description="Peak memory of the run")
    compile_output: str | None = None
    compile_output_base64: str | None = None
    compile_time_ms: int | None = None
    attempt: int
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    created_at: dt.datetime
    webhook_secret: str | None = Field(
        default=None,
        description="Only in the answer to a one-shot run whose callback_url created the "
        "caller's signing secret (shown once).",
    )
    started_by: uuid.UUID | None = Field(
        default=None,
        description="The user who started it: the task's owner, or a user it is shared with "
        "as a runner (whose quota the run counted against)",
    )


class ExecutionList(BaseModel):
    """Newest first; `total` and `offset` only in offset mode."""

    executions: list[Execution]
    total: int | None = None
    limit: int
    offset: int | None = None
    pagination: Pagination


class ExecutionUpdate(BaseModel):
    """A progress report from a service (or an admin); moves through the state machine."""

    model_config = ConfigDict(extra="ignore", strict=True)
    # Not strict: a JSON string is the enum's value (strict mode wants an enum instance).
    status: Annotated[Status, Field(strict=False)] | None = None
    return_code: Annotated[int, Field(ge=-INT32 - 1, le=INT32)] | None = None
    stdout: Output | None = None
    stderr: Output | None = None
    execution_time_ms: Annotated[int, Field(ge=0, le=INT63)] | None = None
    memory_usage_bytes: Annotated[int, Field(ge=0, le=INT63)] | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None
    termination_reason: Annotated[TerminationReason, Field(strict=False)] | None = None
