"""/api/v1/tasks: create, list, read, update and delete tasks — forwarded to the tasks service.

Also the helpers the execution routes share: the caller sent with every call, path id parsing,
and `call`, which turns the tasks service's structured field errors into validation_errors.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import grpc
from fastapi import APIRouter, Query
from google.protobuf.message import Message

from voidrunner.gateway.deps import CurrentUser, Deps
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.ratelimit import per_user
from voidrunner.gateway.schemas.common import ERROR_RESPONSES, ErrorBody, MessageBody
from voidrunner.gateway.schemas.tasks import Pagination, Task, TaskCreate, TaskList, TaskUpdate
from voidrunner.gateway.tokens import Principal
from voidrunner.proto.tasks.v1 import tasks_pb2

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], responses=ERROR_RESPONSES)

# Set by the tasks service next to INVALID_ARGUMENT (see FieldViolations in tasks.proto).
VIOLATIONS_KEY = "voidrunner-field-violations-bin"
INT32_MAX = 2**31 - 1
R = TypeVar("R")


def caller(principal: Principal) -> tasks_pb2.Caller:
    """Who the tasks service acts for."""
    return tasks_pb2.Caller(user_id=str(principal.user_id), role=principal.role)


def parse_id(value: str, error: str) -> str:
    """The canonical form of a path UUID; 400 with `error` otherwise."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(400, error) from None


async def call(method: Callable[..., Awaitable[R]], request: Message, deps: Deps) -> R:
    """One call to the tasks service; its field errors become 400 validation_errors."""
    try:
        return await method(request, timeout=deps.settings.rpc_timeout_seconds)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            pairs: list[tuple[str, Any]] = list(exc.trailing_metadata() or ())  # type: ignore[arg-type]
            raw = dict(pairs).get(VIOLATIONS_KEY)
            if isinstance(raw, bytes):
                found = tasks_pb2.FieldViolations.FromString(raw).violations
                items = [
                    {"field": v.field, "value": v.value, "tag": v.tag, "message": v.message}
                    for v in found
                ]
                raise ApiError(
                    400, "Validation failed", extra={"validation_errors": items}
                ) from None
        raise


def _time(ts: Any) -> dt.datetime:
    value: dt.datetime = ts.ToDatetime(tzinfo=dt.UTC)
    return value


def task_body(t: tasks_pb2.Task) -> Task:
    """The public form of a task."""
    return Task(
        id=uuid.UUID(t.id),
        user_id=uuid.UUID(t.user_id),
        name=t.name,
        description=t.description if t.HasField("description") else None,
        script_content=t.script_content,
        script_type=t.script_type,
        status=t.status,
        priority=t.priority,
        timeout_seconds=t.timeout_seconds,
        metadata=json.loads(t.metadata_json or "{}"),
        stdin=t.stdin if t.HasField("stdin") else None,
        env=dict(t.env),
        memory_limit_mb=t.memory_limit_mb,
        cpu_limit=t.cpu_limit,
        max_output_bytes=t.max_output_bytes,
        created_at=_time(t.created_at),
        updated_at=_time(t.updated_at),
    )


def _fields(body: TaskCreate | TaskUpdate, given: set[str]) -> tasks_pb2.TaskFields:
    f = tasks_pb2.TaskFields()
    for name in (
        "name",
        "script_content",
        "script_type",
        "priority",
        "timeout_seconds",
        "memory_limit_mb",
        "cpu_limit",
        "max_output_bytes",
    ):
        value = getattr(body, name)
        if name in given and value is not None:
            setattr(f, name, value)
    for name, clear in (("description", "clear_description"), ("stdin", "clear_stdin")):
        if name in given:
            value = getattr(body, name)
            if value is None:
                setattr(f, clear, True)
            else:
                setattr(f, name, value)
    if "metadata" in given and body.metadata is not None:
        f.metadata_json = json.dumps(body.metadata, separators=(",", ":"), ensure_ascii=False)
    if "env" in given and body.env is not None:
        f.env.update(body.env)
        f.has_env = True
    return f


@router.post(
    "",
    status_code=201,
    response_model=Task,
    response_model_exclude_none=True,
    dependencies=[per_user("task_create")],
)
async def create_task(body: TaskCreate, principal: CurrentUser, deps: Deps) -> Task:
    """Create a task (status `pending`); resource fields default to the operator's defaults."""
    given = {n for n in TaskCreate.model_fields if getattr(body, n) is not None}
    request = tasks_pb2.CreateTaskRequest(caller=caller(principal), fields=_fields(body, given))
    return task_body(await call(deps.tasks.CreateTask, request, deps))


def query_int(value: str | None, default: int, lo: int, hi: int, error: str) -> int:
    """An integer query parameter in lo..hi; 400 with the contract's `error` otherwise."""
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, error) from None
    if not lo <= number <= hi:
        raise ApiError(400, error)
    return number


@router.get(
    "", response_model=TaskList, response_model_exclude_none=True, dependencies=[per_user("tasks")]
)
async def list_tasks(
    principal: CurrentUser,
    deps: Deps,
    limit: Annotated[str | None, Query(description="1 to 100, default 20")] = None,
    offset: Annotated[str | None, Query(description="≥ 0; not with cursor")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    sort_field: Annotated[
        str | None, Query(description="created_at (default), updated_at, priority or name")
    ] = None,
    sort_order: Annotated[str | None, Query(description="asc or desc (default)")] = None,
    status: Annotated[str | None, Query()] = None,
    script_type: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query(description="substring of name or description")] = None,
    metadata: Annotated[
        str | None, Query(description='JSON object the metadata must contain, e.g. {"team":"a"}')
    ] = None,
) -> TaskList:
    """The caller's tasks, a page at a time: by offset (with total) or by keyset cursor."""
    request = tasks_pb2.ListTasksRequest(
        caller=caller(principal),
        limit=query_int(limit, 20, 1, 100, "limit must be between 1 and 100"),
        sort_field=sort_field or "",
        sort_order=sort_order or "",
    )
    if offset is not None:
        request.offset = query_int(offset, 0, 0, INT32_MAX, "offset must be a non-negative integer")
    for name, value in (
        ("cursor", cursor),
        ("status", status),
        ("script_type", script_type),
        ("q", q),
        ("metadata_json", metadata),
    ):
        if value:
            setattr(request, name, value)
    resp = await call(deps.tasks.ListTasks, request, deps)
    return TaskList(
        tasks=[task_body(t) for t in resp.tasks],
        total=resp.total if resp.HasField("total") else None,
        limit=resp.limit,
        offset=resp.offset if resp.HasField("offset") else None,
        pagination=Pagination(
            has_more=resp.pagination.has_more,
            next_cursor=resp.pagination.next_cursor
            if resp.pagination.HasField("next_cursor")
            else None,
        ),
    )


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Task not found"}
}
_RUNNING: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The task is running"}
}


@router.get(
    "/{task_id}",
    response_model=Task,
    response_model_exclude_none=True,
    responses=_NOT_FOUND,
    dependencies=[per_user("tasks")],
)
async def get_task(task_id: str, principal: CurrentUser, deps: Deps) -> Task:
    """One of the caller's tasks."""
    request = tasks_pb2.GetTaskRequest(
        caller=caller(principal), id=parse_id(task_id, "Invalid task ID format")
    )
    return task_body(await call(deps.tasks.GetTask, request, deps))


@router.put(
    "/{task_id}",
    response_model=Task,
    response_model_exclude_none=True,
    responses={**_NOT_FOUND, **_RUNNING},
    dependencies=[per_user("tasks")],
)
async def update_task(task_id: str, body: TaskUpdate, principal: CurrentUser, deps: Deps) -> Task:
    """Change the given fields (`null` clears description or stdin); refused while running."""
    request = tasks_pb2.UpdateTaskRequest(
        caller=caller(principal),
        id=parse_id(task_id, "Invalid task ID format"),
        fields=_fields(body, set(body.model_fields_set)),
    )
    return task_body(await call(deps.tasks.UpdateTask, request, deps))


@router.delete(
    "/{task_id}",
    response_model=MessageBody,
    responses={**_NOT_FOUND, **_RUNNING},
    dependencies=[per_user("tasks")],
)
async def delete_task(task_id: str, principal: CurrentUser, deps: Deps) -> MessageBody:
    """Delete a task and its executions; refused while running."""
    request = tasks_pb2.DeleteTaskRequest(
        caller=caller(principal), id=parse_id(task_id, "Invalid task ID format")
    )
    await call(deps.tasks.DeleteTask, request, deps)
    return MessageBody(message="Task deleted successfully")
