"""The TasksService gRPC servicer: protobuf in, domain calls, protobuf out. No rules here.

Field rule failures travel as INVALID_ARGUMENT plus a serialized FieldViolations message in the
trailing metadata key VIOLATIONS_KEY, which the gateway turns into validation_errors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from voidrunner.proto.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from voidrunner.tasks.errors import FieldErrors, Violation
from voidrunner.tasks.executions import ExecutionService, ExecutionUpdate
from voidrunner.tasks.repository import ExecutionRecord, TaskRecord
from voidrunner.tasks.service import Caller, ListQuery, Page, TaskService
from voidrunner.tasks.validation import TaskPatch, parse_metadata

Context = Any  # grpc.aio.ServicerContext; the stubs' generics add nothing here
VIOLATIONS_KEY = "voidrunner-field-violations-bin"


@contextlib.contextmanager
def field_violations(context: Context) -> Iterator[None]:
    """Attach FieldErrors as structured trailing metadata; the interceptor sets the status."""
    try:
        yield
    except FieldErrors as exc:
        details = tasks_pb2.FieldViolations(
            violations=[
                tasks_pb2.FieldViolation(field=v.field, value=v.value, tag=v.tag, message=v.message)
                for v in exc.violations
            ]
        )
        context.set_trailing_metadata(((VIOLATIONS_KEY, details.SerializeToString()),))
        raise


def _ts(value: dt.datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _caller(msg: tasks_pb2.Caller) -> Caller:
    try:
        user_id = uuid.UUID(msg.user_id)
    except ValueError:
        raise FieldErrors(
            [Violation("caller.user_id", "format", "caller is not a user id")]
        ) from None
    return Caller(user_id=user_id, role=msg.role or "user")


def _opt(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


def task_patch(f: tasks_pb2.TaskFields) -> TaskPatch:
    """The domain form of the given task fields."""
    patch = TaskPatch(
        name=_opt(f, "name"),
        description=_opt(f, "description"),
        clear_description=f.clear_description,
        script_content=_opt(f, "script_content"),
        script_type=_opt(f, "script_type"),
        priority=_opt(f, "priority"),
        timeout_seconds=_opt(f, "timeout_seconds"),
        stdin=_opt(f, "stdin"),
        clear_stdin=f.clear_stdin,
        env=dict(f.env) if f.has_env else None,
        memory_limit_mb=_opt(f, "memory_limit_mb"),
        cpu_limit=_opt(f, "cpu_limit"),
        max_output_bytes=_opt(f, "max_output_bytes"),
    )
    if f.HasField("metadata_json"):
        patch.metadata, problem = parse_metadata(f.metadata_json)
        if patch.metadata is None:
            patch.early.append(Violation("metadata", "format", problem))
    return patch


def task_message(t: TaskRecord) -> tasks_pb2.Task:
    """The protobuf form of a task."""
    return tasks_pb2.Task(
        id=str(t.id),
        user_id=str(t.user_id),
        name=t.name,
        description=t.description,
        script_content=t.script_content,
        script_type=t.script_type,
        status=t.status,
        priority=t.priority,
        timeout_seconds=t.timeout_seconds,
        metadata_json=json.dumps(t.metadata, separators=(",", ":"), ensure_ascii=False),
        stdin=None if t.stdin is None else t.stdin.decode("utf-8", "replace"),
        env=t.env,
        memory_limit_mb=t.memory_limit_mb,
        cpu_limit=t.cpu_limit,
        max_output_bytes=t.max_output_bytes,
        created_at=_ts(t.created_at),
        updated_at=_ts(t.updated_at),
    )


def execution_message(e: ExecutionRecord) -> tasks_pb2.Execution:
    """The protobuf form of an execution."""
    return tasks_pb2.Execution(
        id=str(e.id),
        task_id=str(e.task_id),
        user_id=str(e.user_id),
        status=e.status,
        return_code=e.return_code,
        stdout=e.stdout,
        stderr=e.stderr,
        execution_time_ms=e.execution_time_ms,
        memory_usage_bytes=e.memory_usage_bytes,
        started_at=_ts(e.started_at),
        completed_at=_ts(e.completed_at),
        created_at=_ts(e.created_at),
        stdout_truncated=e.stdout_truncated,
        stderr_truncated=e.stderr_truncated,
        termination_reason=e.termination_reason,
        termination_detail=e.termination_detail,
        attempt=e.attempt,
    )


def _pagination(page: Page[Any]) -> tasks_pb2.Pagination:
    return tasks_pb2.Pagination(has_more=page.has_more, next_cursor=page.next_cursor)


class TasksServicer(tasks_pb2_grpc.TasksServiceServicer):
    """Each RPC: request → domain call → response (see tasks.proto for the contract)."""

    def __init__(self, tasks: TaskService, executions: ExecutionService) -> None:
        self._tasks = tasks
        self._executions = executions

    async def CreateTask(
        self, request: tasks_pb2.CreateTaskRequest, context: Context
    ) -> tasks_pb2.Task:
        with field_violations(context):
            task = await self._tasks.create_task(
                _caller(request.caller), task_patch(request.fields)
            )
        return task_message(task)

    async def GetTask(self, request: tasks_pb2.GetTaskRequest, context: Context) -> tasks_pb2.Task:
        with field_violations(context):
            return task_message(await self._tasks.get_task(_caller(request.caller), request.id))

    async def UpdateTask(
        self, request: tasks_pb2.UpdateTaskRequest, context: Context
    ) -> tasks_pb2.Task:
        with field_violations(context):
            task = await self._tasks.update_task(
                _caller(request.caller), request.id, task_patch(request.fields)
            )
        return task_message(task)

    async def DeleteTask(
        self, request: tasks_pb2.DeleteTaskRequest, context: Context
    ) -> tasks_pb2.DeleteTaskResponse:
        with field_violations(context):
            await self._tasks.delete_task(_caller(request.caller), request.id)
        return tasks_pb2.DeleteTaskResponse()

    async def ListTasks(
        self, request: tasks_pb2.ListTasksRequest, context: Context
    ) -> tasks_pb2.ListTasksResponse:
        query = ListQuery(
            limit=request.limit,
            offset=_opt(request, "offset"),
            cursor=_opt(request, "cursor"),
            sort_field=request.sort_field,
            sort_order=request.sort_order,
            status=_opt(request, "status"),
            script_type=_opt(request, "script_type"),
            q=_opt(request, "q"),
            metadata=_opt(request, "metadata_json"),
        )
        with field_violations(context):
            page = await self._tasks.list_tasks(_caller(request.caller), query)
        return tasks_pb2.ListTasksResponse(
            tasks=[task_message(t) for t in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            pagination=_pagination(page),
        )

    async def StartExecution(
        self, request: tasks_pb2.StartExecutionRequest, context: Context
    ) -> tasks_pb2.StartExecutionResponse:
        with field_violations(context):
            execution, replayed = await self._executions.start(
                _caller(request.caller), request.task_id, _opt(request, "idempotency_key")
            )
        return tasks_pb2.StartExecutionResponse(
            execution=execution_message(execution), replayed=replayed
        )

    async def GetExecution(
        self, request: tasks_pb2.GetExecutionRequest, context: Context
    ) -> tasks_pb2.Execution:
        with field_violations(context):
            execution = await self._executions.get(_caller(request.caller), request.id)
        return execution_message(execution)

    async def ListExecutions(
        self, request: tasks_pb2.ListExecutionsRequest, context: Context
    ) -> tasks_pb2.ListExecutionsResponse:
        with field_violations(context):
            page = await self._executions.list(
                _caller(request.caller),
                request.task_id,
                request.limit,
                _opt(request, "offset"),
                _opt(request, "cursor"),
            )
        return tasks_pb2.ListExecutionsResponse(
            executions=[execution_message(e) for e in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            pagination=_pagination(page),
        )

    async def CancelExecution(
        self, request: tasks_pb2.CancelExecutionRequest, context: Context
    ) -> tasks_pb2.Execution:
        with field_violations(context):
            execution = await self._executions.cancel(_caller(request.caller), request.id)
        return execution_message(execution)

    async def ListOverdueExecutions(
        self, request: tasks_pb2.ListOverdueExecutionsRequest, context: Context
    ) -> tasks_pb2.ListOverdueExecutionsResponse:
        found = await self._executions.overdue(
            _caller(request.caller),
            request.pending_seconds,
            request.running_grace_seconds,
            request.limit or 100,
        )
        return tasks_pb2.ListOverdueExecutionsResponse(
            executions=[
                tasks_pb2.OverdueExecution(execution=execution_message(e), job=job)
                for e, job in found
            ]
        )

    async def UpdateExecution(
        self, request: tasks_pb2.UpdateExecutionRequest, context: Context
    ) -> tasks_pb2.Execution:
        change = ExecutionUpdate(
            status=_opt(request, "status"),
            return_code=_opt(request, "return_code"),
            stdout=_opt(request, "stdout"),
            stderr=_opt(request, "stderr"),
            execution_time_ms=_opt(request, "execution_time_ms"),
            memory_usage_bytes=_opt(request, "memory_usage_bytes"),
            stdout_truncated=_opt(request, "stdout_truncated"),
            stderr_truncated=_opt(request, "stderr_truncated"),
            termination_reason=_opt(request, "termination_reason"),
        )
        with field_violations(context):
            execution = await self._executions.update(_caller(request.caller), request.id, change)
        return execution_message(execution)
