"""Executions: start and list under /api/v1/tasks/{id}, read, cancel and update by id.

Start is idempotent with an `Idempotency-Key` header: the first call answers 201 with the new
execution; a retry with the same key (for the same task) answers 200 with that same execution
and `Idempotent-Replayed: true`, whatever state it has reached since.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from voidrunner.gateway.deps import CurrentUser, Deps
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.live import wait_for_final
from voidrunner.gateway.ratelimit import per_user
from voidrunner.gateway.routes.tasks import INT32_MAX, call, caller, parse_id, query_int
from voidrunner.gateway.schemas.common import ERROR_RESPONSES, ErrorBody, MessageBody
from voidrunner.gateway.schemas.executions import Execution, ExecutionList, ExecutionUpdate
from voidrunner.gateway.schemas.tasks import Pagination
from voidrunner.gateway.tokens import Principal
from voidrunner.proto.tasks.v1 import tasks_pb2

router = APIRouter(prefix="/api/v1", tags=["executions"], responses=ERROR_RESPONSES)
TASK_ID = "Invalid task ID format"
EXECUTION_ID = "Invalid execution ID format"
MAX_KEY = 255
MAX_WAIT = 60
PRIVILEGED = frozenset({"admin", "service"})


def _time(message: Any, name: str) -> dt.datetime | None:
    if not message.HasField(name):
        return None
    value: dt.datetime = getattr(message, name).ToDatetime(tzinfo=dt.UTC)
    return value


def _opt(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


def execution_body(e: tasks_pb2.Execution) -> Execution:
    """The public form of an execution."""
    return Execution(
        id=uuid.UUID(e.id),
        task_id=uuid.UUID(e.task_id),
        status=e.status,
        return_code=_opt(e, "return_code"),
        stdout=_opt(e, "stdout"),
        stderr=_opt(e, "stderr"),
        stdout_truncated=e.stdout_truncated,
        stderr_truncated=e.stderr_truncated,
        termination_reason=_opt(e, "termination_reason"),
        termination_detail=_opt(e, "termination_detail"),
        execution_time_ms=_opt(e, "execution_time_ms"),
        memory_usage_bytes=_opt(e, "memory_usage_bytes"),
        attempt=e.attempt,
        started_at=_time(e, "started_at"),
        completed_at=_time(e, "completed_at"),
        created_at=e.created_at.ToDatetime(tzinfo=dt.UTC),
    )


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_KEY or not value.isascii() or not value.isprintable():
        raise ApiError(
            400,
            "Validation failed",
            extra={
                "validation_errors": [
                    {
                        "field": "Idempotency-Key",
                        "value": "",
                        "tag": "format",
                        "message": "Idempotency-Key must be 1 to 255 printable ASCII characters",
                    }
                ]
            },
        )
    return value


@router.post(
    "/tasks/{task_id}/executions",
    status_code=201,
    response_model=Execution,
    response_model_exclude_none=True,
    responses={
        200: {"model": Execution, "description": "Replay of an earlier start with the same key"},
        404: {"model": ErrorBody, "description": "Task not found"},
        409: {"model": ErrorBody, "description": "Task is already running"},
    },
    dependencies=[per_user("execution_start")],
)
async def start_execution(
    task_id: str,
    response: Response,
    principal: CurrentUser,
    deps: Deps,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    wait: Annotated[
        str | None, Query(description="wait up to this many seconds (≤ 60) for a final state")
    ] = None,
) -> Execution:
    """Run the task now: a pending execution the scheduler picks up."""
    request = tasks_pb2.StartExecutionRequest(
        caller=caller(principal), task_id=parse_id(task_id, TASK_ID)
    )
    seconds = query_int(wait, 0, 0, MAX_WAIT, f"wait must be between 0 and {MAX_WAIT}")
    key = _idempotency_key(idempotency_key)
    if key is not None:
        request.idempotency_key = key
    resp = await call(deps.tasks.StartExecution, request, deps)
    if resp.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    execution = resp.execution
    if seconds and deps.finals is not None:
        again = tasks_pb2.GetExecutionRequest(caller=request.caller, id=execution.id)

        async def get() -> tasks_pb2.Execution:
            return await call(deps.tasks.GetExecution, again, deps)

        execution = await wait_for_final(deps.finals, execution, get, seconds)
    return execution_body(execution)


@router.get(
    "/tasks/{task_id}/executions",
    response_model=ExecutionList,
    response_model_exclude_none=True,
    responses={404: {"model": ErrorBody, "description": "Task not found"}},
    dependencies=[per_user("executions")],
)
async def list_executions(
    task_id: str,
    principal: CurrentUser,
    deps: Deps,
    limit: Annotated[str | None, Query(description="1 to 100, default 20")] = None,
    offset: Annotated[str | None, Query(description="≥ 0; not with cursor")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> ExecutionList:
    """The task's executions, newest first."""
    request = tasks_pb2.ListExecutionsRequest(
        caller=caller(principal),
        task_id=parse_id(task_id, TASK_ID),
        limit=query_int(limit, 20, 1, 100, "limit must be between 1 and 100"),
    )
    if offset is not None:
        request.offset = query_int(offset, 0, 0, INT32_MAX, "offset must be a non-negative integer")
    if cursor:
        request.cursor = cursor
    resp = await call(deps.tasks.ListExecutions, request, deps)
    return ExecutionList(
        executions=[execution_body(e) for e in resp.executions],
        total=_opt(resp, "total"),
        limit=resp.limit,
        offset=_opt(resp, "offset"),
        pagination=Pagination(
            has_more=resp.pagination.has_more,
            next_cursor=_opt(resp.pagination, "next_cursor"),
        ),
    )


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Execution not found"}
}


@router.get(
    "/executions/{execution_id}",
    response_model=Execution,
    response_model_exclude_none=True,
    responses=_NOT_FOUND,
    dependencies=[per_user("executions")],
)
async def get_execution(execution_id: str, principal: CurrentUser, deps: Deps) -> Execution:
    """One of the caller's executions."""
    request = tasks_pb2.GetExecutionRequest(
        caller=caller(principal), id=parse_id(execution_id, EXECUTION_ID)
    )
    return execution_body(await call(deps.tasks.GetExecution, request, deps))


async def privileged(principal: CurrentUser) -> Principal:
    """Service and admin callers only; checked before the body is looked at."""
    if principal.role not in PRIVILEGED:
        raise ApiError(403, "Access denied")
    return principal


@router.put(
    "/executions/{execution_id}",
    response_model=Execution,
    response_model_exclude_none=True,
    responses={
        **_NOT_FOUND,
        403: {"model": ErrorBody, "description": "Only service and admin tokens"},
        409: {"model": ErrorBody, "description": "A final execution never changes"},
    },
    dependencies=[per_user("executions")],
)
async def update_execution(
    execution_id: str,
    body: ExecutionUpdate,
    principal: Annotated[Principal, Depends(privileged)],
    deps: Deps,
) -> Execution:
    """Report progress or a result (pending → running → a final state)."""
    request = tasks_pb2.UpdateExecutionRequest(
        caller=caller(principal), id=parse_id(execution_id, EXECUTION_ID)
    )
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(request, name, value)
    return execution_body(await call(deps.tasks.UpdateExecution, request, deps))


@router.delete(
    "/executions/{execution_id}",
    response_model=MessageBody,
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorBody, "description": "The execution already finished"},
    },
    dependencies=[per_user("executions")],
)
async def cancel_execution(execution_id: str, principal: CurrentUser, deps: Deps) -> MessageBody:
    """Cancel a pending or running execution (a running one is stopped in its sandbox)."""
    request = tasks_pb2.CancelExecutionRequest(
        caller=caller(principal), id=parse_id(execution_id, EXECUTION_ID)
    )
    await call(deps.tasks.CancelExecution, request, deps)
    return MessageBody(message="Execution cancelled successfully")
