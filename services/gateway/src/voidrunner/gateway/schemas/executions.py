"""Bodies of the execution endpoints."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from voidrunner.common.text import is_storable_text as is_text
from voidrunner.gateway.schemas.tasks import Pagination

ExecutionStatus = Literal["pending", "running", "completed", "failed", "timeout", "cancelled"]
TerminationReason = Literal[
    "exit", "timeout", "memory_limit", "output_limit", "cancelled", "sandbox_error"
]
INT32 = 2**31 - 1
INT63 = 2**63 - 1


def _output(value: str) -> str:
    # Program output may hold NUL (the service stores it replaced); lone surrogates cannot travel.
    if not is_text(value.replace("\x00", "")):
        raise ValueError("must be valid text")
    return value


Output = Annotated[str, AfterValidator(_output)]


class Execution(BaseModel):
    """Unset optional fields are omitted from responses."""

    id: uuid.UUID
    task_id: uuid.UUID
    status: str
    return_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    stdout_truncated: bool
    stderr_truncated: bool
    termination_reason: str | None = None
    # new: why it ended that way, in words (e.g. the cause of a sandbox_error)
    termination_detail: str | None = None
    execution_time_ms: int | None = None
    memory_usage_bytes: int | None = None
    attempt: int
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    created_at: dt.datetime


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
    status: ExecutionStatus | None = None
    return_code: Annotated[int, Field(ge=-INT32 - 1, le=INT32)] | None = None
    stdout: Output | None = None
    stderr: Output | None = None
    execution_time_ms: Annotated[int, Field(ge=0, le=INT63)] | None = None
    memory_usage_bytes: Annotated[int, Field(ge=0, le=INT63)] | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None
    termination_reason: TerminationReason | None = None
