"""/api/v1/tasks: create, list, read, update and delete tasks — forwarded to the tasks service.

Also the helpers the execution routes share: the caller sent with every call, and `call`,
which turns the tasks service's structured field errors into validation_errors.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from fastapi import APIRouter, Response
from google.protobuf.message import Message

from voidrunner.contracts.output import base64_text, text_form
from voidrunner.gateway.deps import CurrentUser, Deps
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.params import (
    Cursor,
    Limit,
    MetadataFilter,
    Offset,
    ScriptTypeFilter,
    SearchText,
    SharedFilter,
    SortFieldParam,
    SortOrderParam,
    StatusFilter,
    TaskId,
)
from voidrunner.gateway.ratelimit import per_user
from voidrunner.gateway.schemas.common import ERROR_RESPONSES, ErrorBody, MessageBody
from voidrunner.gateway.schemas.inputs import bytes_of, file_body, test_case_body
from voidrunner.gateway.schemas.tasks import (
    Pagination,
    RunFields,
    Task,
    TaskCreate,
    TaskList,
    TaskUpdate,
)
from voidrunner.gateway.tokens import Principal
from voidrunner.proto.tasks.v1 import tasks_pb2

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], responses=ERROR_RESPONSES)

# Set by the tasks service next to INVALID_ARGUMENT (see FieldViolations in tasks.proto).
VIOLATIONS_KEY = "voidrunner-field-violations-bin"
R = TypeVar("R")


def caller(principal: Principal) -> tasks_pb2.Caller:
    """Who the tasks service acts for (the email: which shared tasks they see)."""
    return tasks_pb2.Caller(
        user_id=str(principal.user_id), role=principal.role, email=principal.email
    )


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
    """The public form of a task (a shared one as the tasks service redacted it: no env, and
    hidden cases by name alone)."""
    shared = t.shared_role if t.HasField("shared_role") else None
    return Task(
        id=uuid.UUID(t.id),
        user_id=uuid.UUID(t.user_id),
        name=t.name,
        description=t.description if t.HasField("description") else None,
        script_content=None if t.files else t.script_content,
        script_type=t.script_type,
        version=t.version or None,
        files=[file_body(f) for f in t.files] or None,
        entrypoint=t.entrypoint or None,
        args=list(t.args) or None,
        test_cases=[test_case_body(c, owner=shared is None) for c in t.test_cases] or None,
        stop_on_first_failure=t.stop_on_first_failure if t.test_cases else None,
        status=t.status,
        priority=t.priority,
        timeout_seconds=t.timeout_seconds,
        metadata=json.loads(t.metadata_json or "{}"),
        **_stdin(t),
        env=None if shared else dict(t.env),
        shared_role=shared,
        memory_limit_mb=t.memory_limit_mb,
        cpu_limit=t.cpu_limit,
        max_output_bytes=t.max_output_bytes,
        callback_url=t.callback_url if t.HasField("callback_url") else None,
        webhook_secret=t.webhook_secret or None,
        created_at=_time(t.created_at),
        updated_at=_time(t.updated_at),
    )


def _stdin(t: tasks_pb2.Task) -> dict[str, str]:
    if not t.HasField("stdin"):
        return {}
    text, exact = text_form(t.stdin, nul=True)
    return {"stdin": text} if exact else {"stdin_base64": base64_text(t.stdin)}


_SCALARS = (
    "name",
    "script_content",
    "script_type",
    "version",
    "entrypoint",
    "priority",
    "timeout_seconds",
    "memory_limit_mb",
    "cpu_limit",
    "max_output_bytes",
    "stop_on_first_failure",
    "callback_url",
)


def fields_of(body: RunFields | TaskUpdate, given: set[str]) -> tasks_pb2.TaskFields:
    """The given fields of a task or run body, as the tasks service takes them."""
    f = tasks_pb2.TaskFields()
    for name in _SCALARS:
        value = getattr(body, name, None)
        if name in given and value is not None:
            setattr(f, name, value)
    if "description" in given:
        description = getattr(body, "description", None)
        if description is None:
            f.clear_description = True
        else:
            f.description = description
    if "callback_url" in given and getattr(body, "callback_url", None) is None:
        f.clear_callback_url = True
    if given & {"stdin", "stdin_base64"}:
        stdin = bytes_of(body.stdin, body.stdin_base64)
        if stdin is None:
            f.clear_stdin = True
        else:
            f.stdin = stdin
    metadata = getattr(body, "metadata", None)
    if "metadata" in given and metadata is not None:
        f.metadata_json = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
    _add_collections(f, body, given)
    return f


def _add_collections(
    f: tasks_pb2.TaskFields, body: RunFields | TaskUpdate, given: set[str]
) -> None:
    """Env, files, args and test cases: each replaces the whole collection when given."""
    if "env" in given and body.env is not None:
        f.env.update(body.env)
        f.has_env = True
    if "files" in given and body.files is not None:
        f.files.extend(item.message() for item in body.files)
        f.has_files = True
    if "args" in given and body.args is not None:
        f.args.extend(body.args)
        f.has_args = True
    if "test_cases" in given and body.test_cases is not None:
        f.test_cases.extend(case.message() for case in body.test_cases)
        f.has_test_cases = True


@router.post(
    "",
    status_code=201,
    response_model=Task,
    response_model_exclude_none=True,
    dependencies=[per_user("task_create")],
)
async def create_task(
    body: TaskCreate, response: Response, principal: CurrentUser, deps: Deps
) -> Task:
    """Create a task (status `pending`); resource fields default to the operator's defaults."""
    given = {n for n in TaskCreate.model_fields if getattr(body, n) is not None}
    request = tasks_pb2.CreateTaskRequest(caller=caller(principal), fields=fields_of(body, given))
    task = task_body(await call(deps.tasks.CreateTask, request, deps))
    response.headers["Location"] = f"{router.prefix}/{task.id}"
    return task


@router.get(
    "", response_model=TaskList, response_model_exclude_none=True, dependencies=[per_user("tasks")]
)
async def list_tasks(
    principal: CurrentUser,
    deps: Deps,
    limit: Limit = 20,
    offset: Offset = None,
    cursor: Cursor = None,
    sort_field: SortFieldParam = None,
    sort_order: SortOrderParam = None,
    status: StatusFilter = None,
    script_type: ScriptTypeFilter = None,
    q: SearchText = None,
    metadata: MetadataFilter = None,
    shared: SharedFilter = None,
) -> TaskList:
    """The caller's tasks, a page at a time: by offset (with total) or by keyset cursor.

    `shared=with_me` lists the tasks others shared with the caller instead (each with its
    `shared_role`), with the same filters, sorts and pages."""
    request = tasks_pb2.ListTasksRequest(
        caller=caller(principal),
        limit=limit,
        sort_field=sort_field or "",
        sort_order=sort_order or "",
    )
    if offset is not None:
        request.offset = offset
    for name, value in (
        ("cursor", cursor),
        ("status", status),
        ("script_type", script_type),
        ("q", q),
        ("metadata_json", metadata),
        ("shared", shared),
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
_OWNER_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "The task is shared with the caller, not theirs"}
}


@router.get(
    "/{task_id}",
    response_model=Task,
    response_model_exclude_none=True,
    responses=_NOT_FOUND,
    dependencies=[per_user("tasks")],
)
async def get_task(task_id: TaskId, principal: CurrentUser, deps: Deps) -> Task:
    """One of the caller's tasks, or one shared with them (`shared_role` set, without `env`,
    hidden test cases by name alone)."""
    request = tasks_pb2.GetTaskRequest(caller=caller(principal), id=str(task_id))
    return task_body(await call(deps.tasks.GetTask, request, deps))


@router.put(
    "/{task_id}",
    response_model=Task,
    response_model_exclude_none=True,
    responses={**_NOT_FOUND, **_OWNER_ONLY, **_RUNNING},
    dependencies=[per_user("tasks")],
)
async def update_task(
    task_id: TaskId, body: TaskUpdate, principal: CurrentUser, deps: Deps
) -> Task:
    """Change the given fields (`null` clears description or stdin); refused while running."""
    request = tasks_pb2.UpdateTaskRequest(
        caller=caller(principal),
        id=str(task_id),
        fields=fields_of(body, set(body.model_fields_set)),
    )
    return task_body(await call(deps.tasks.UpdateTask, request, deps))


@router.delete(
    "/{task_id}",
    response_model=MessageBody,
    responses={**_NOT_FOUND, **_OWNER_ONLY, **_RUNNING},
    dependencies=[per_user("tasks")],
)
async def delete_task(task_id: TaskId, principal: CurrentUser, deps: Deps) -> MessageBody:
    """Delete a task with its executions and shares; refused while running."""
    request = tasks_pb2.DeleteTaskRequest(caller=caller(principal), id=str(task_id))
    await call(deps.tasks.DeleteTask, request, deps)
    return MessageBody(message="Task deleted successfully")
