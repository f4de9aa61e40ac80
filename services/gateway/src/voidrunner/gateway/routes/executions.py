"""Executions: start and list under /api/v1/tasks/{id}, read, cancel and update by id.

Start is idempotent with an `Idempotency-Key` header: the first call answers 201 with the new
execution; a retry with the same key (for the same task) answers 200 with that same execution
and `Idempotent-Replayed: true`, whatever state it has reached since.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from voidrunner.contracts.roles import PRIVILEGED_ROLES
from voidrunner.gateway.deps import CurrentUser, Deps
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.execution_view import execution_body, optional
from voidrunner.gateway.live import wait_for_final
from voidrunner.gateway.params import (
    CreatedAfter,
    CreatedBefore,
    Cursor,
    ExecutionId,
    ExecutionStatusFilter,
    IdsFilter,
    Limit,
    Offset,
    ScriptTypeFilter,
    TaskFilter,
    TaskId,
    Wait,
)
from voidrunner.gateway.ratelimit import per_user
from voidrunner.gateway.routes.tasks import call, caller
from voidrunner.gateway.schemas.common import (
    ERROR_RESPONSES,
    REPLAYED_HEADER,
    ErrorBody,
    MessageBody,
)
from voidrunner.gateway.schemas.executions import Execution, ExecutionList, ExecutionUpdate
from voidrunner.gateway.schemas.tasks import Pagination
from voidrunner.gateway.tokens import Principal
from voidrunner.proto.tasks.v1 import tasks_pb2

router = APIRouter(prefix="/api/v1", tags=["executions"], responses=ERROR_RESPONSES)
MAX_KEY = 255


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
        200: {
            "model": Execution,
            "description": "Replay of an earlier start with the same key",
            "headers": {"Idempotent-Replayed": REPLAYED_HEADER},
        },
        403: {"model": ErrorBody, "description": "The task is shared with the caller as a viewer"},
        404: {"model": ErrorBody, "description": "Task not found"},
        409: {"model": ErrorBody, "description": "Task is already running"},
    },
    dependencies=[per_user("execution_start")],
)
async def start_execution(
    task_id: TaskId,
    response: Response,
    principal: CurrentUser,
    deps: Deps,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    wait: Wait = 0,
) -> Execution:
    """Run the task now: a pending execution the scheduler picks up.

    Its owner and users it is shared with as `runner` may; the run is charged to the caller
    (this rate limit, and their concurrent runs), who is its `started_by`."""
    request = tasks_pb2.StartExecutionRequest(caller=caller(principal), task_id=str(task_id))
    key = _idempotency_key(idempotency_key)
    if key is not None:
        request.idempotency_key = key
    resp = await call(deps.tasks.StartExecution, request, deps)
    if resp.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    else:
        response.headers["Location"] = f"{router.prefix}/executions/{resp.execution.id}"
    return execution_body(await awaited(deps, request.caller, resp.execution, wait))


async def awaited(
    deps: Deps, who: tasks_pb2.Caller, execution: tasks_pb2.Execution, wait: int
) -> tasks_pb2.Execution:
    """`execution` once final, or as it is after `wait` seconds (0: as it is now)."""
    if not wait or deps.finals is None:
        return execution
    again = tasks_pb2.GetExecutionRequest(caller=who, id=execution.id)

    async def get() -> tasks_pb2.Execution:
        return await call(deps.tasks.GetExecution, again, deps)

    return await wait_for_final(deps.finals, execution, get, wait)


def execution_page(resp: tasks_pb2.ListExecutionsResponse) -> ExecutionList:
    """A page of execution summaries."""
    return ExecutionList(
        executions=[execution_body(e) for e in resp.executions],
        total=optional(resp, "total"),
        limit=resp.limit,
        offset=optional(resp, "offset"),
        pagination=Pagination(
            has_more=resp.pagination.has_more,
            next_cursor=optional(resp.pagination, "next_cursor"),
        ),
    )


@router.get(
    "/tasks/{task_id}/executions",
    response_model=ExecutionList,
    response_model_exclude_none=True,
    responses={404: {"model": ErrorBody, "description": "Task not found"}},
    dependencies=[per_user("executions")],
)
async def list_executions(
    task_id: TaskId,
    principal: CurrentUser,
    deps: Deps,
    limit: Limit = 20,
    offset: Offset = None,
    cursor: Cursor = None,
) -> ExecutionList:
    """The task's executions, newest first (whoever started them: for a task shared with the
    caller too)."""
    request = tasks_pb2.ListExecutionsRequest(
        caller=caller(principal), task_id=str(task_id), limit=limit, whole_task=True
    )
    if offset is not None:
        request.offset = offset
    if cursor:
        request.cursor = cursor
    return execution_page(await call(deps.tasks.ListExecutions, request, deps))


@router.get(
    "/executions",
    response_model=ExecutionList,
    response_model_exclude_none=True,
    responses={404: {"model": ErrorBody, "description": "Task not found (task_id)"}},
    dependencies=[per_user("executions")],
)
async def list_all_executions(
    principal: CurrentUser,
    deps: Deps,
    limit: Limit = 20,
    offset: Offset = None,
    cursor: Cursor = None,
    status: ExecutionStatusFilter = None,
    script_type: ScriptTypeFilter = None,
    task_id: TaskFilter = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
    ids: IdsFilter = None,
) -> ExecutionList:
    """Every execution of the caller, of tasks and one-shot runs alike, and those they started
    on tasks shared with them, newest first (summaries: the full output is at
    GET /api/v1/executions/{id})."""
    request = tasks_pb2.ListExecutionsRequest(caller=caller(principal), limit=limit)
    if offset is not None:
        request.offset = offset
    if cursor:
        request.cursor = cursor
    if status is not None:
        request.status = status
    if script_type is not None:
        request.script_type = script_type
    if task_id is not None:
        request.task_id = str(task_id)
    if created_after is not None:
        request.created_after.FromDatetime(created_after)
    if created_before is not None:
        request.created_before.FromDatetime(created_before)
    if ids:
        request.ids.extend(part.strip() for part in ids.split(",") if part.strip())
    return execution_page(await call(deps.tasks.ListExecutions, request, deps))


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
async def get_execution(execution_id: ExecutionId, principal: CurrentUser, deps: Deps) -> Execution:
    """One of the caller's executions, or of a task shared with them."""
    request = tasks_pb2.GetExecutionRequest(caller=caller(principal), id=str(execution_id))
    return execution_body(await call(deps.tasks.GetExecution, request, deps))


async def privileged(principal: CurrentUser) -> Principal:
    """Service and admin callers only; checked before the body is looked at."""
    if principal.role not in PRIVILEGED_ROLES:
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
    execution_id: ExecutionId,
    body: ExecutionUpdate,
    principal: Annotated[Principal, Depends(privileged)],
    deps: Deps,
) -> Execution:
    """Report progress or a result (pending → running → a final state)."""
    request = tasks_pb2.UpdateExecutionRequest(caller=caller(principal), id=str(execution_id))
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(request, name, value)
    return execution_body(await call(deps.tasks.UpdateExecution, request, deps))


@router.delete(
    "/executions/{execution_id}",
    response_model=MessageBody,
    responses={
        **_NOT_FOUND,
        403: {"model": ErrorBody, "description": "Its task is shared with the caller as a viewer"},
        409: {"model": ErrorBody, "description": "The execution already finished"},
    },
    dependencies=[per_user("executions")],
)
async def cancel_execution(
    execution_id: ExecutionId, principal: CurrentUser, deps: Deps
) -> MessageBody:
    """Cancel a pending or running execution (a running one is stopped in its sandbox)."""
    request = tasks_pb2.CancelExecutionRequest(caller=caller(principal), id=str(execution_id))
    await call(deps.tasks.CancelExecution, request, deps)
    return MessageBody(message="Execution cancelled successfully")
