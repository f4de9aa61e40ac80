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

from voidrunner.contracts.claims import claim_tag
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.proto.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from voidrunner.tasks.errors import FieldErrors, Violation
from voidrunner.tasks.execution_lists import ExecutionList, ExecutionQuery
from voidrunner.tasks.executions import ExecutionService, ExecutionUpdate
from voidrunner.tasks.policy import RuntimePolicy
from voidrunner.tasks.repository import ExecutionRecord, TaskRecord
from voidrunner.tasks.service import Caller, ListQuery, Page, TaskService
from voidrunner.tasks.shares import ShareRecord, ShareService
from voidrunner.tasks.stats import PlatformStats
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
    return Caller(user_id=user_id, role=msg.role or "user", email=msg.email)


def timestamp(value: dt.datetime | None) -> Timestamp | None:
    """A protobuf Timestamp, or None for None."""
    return _ts(value)


def caller_from(msg: tasks_pb2.Caller) -> Caller:
    """The domain caller a request names (FieldErrors for a malformed id)."""
    return _caller(msg)


def _opt(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


def _time(msg: Any, name: str) -> dt.datetime | None:
    if not msg.HasField(name):
        return None
    value: dt.datetime = getattr(msg, name).ToDatetime(tzinfo=dt.UTC)
    return value


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
        version=_opt(f, "version"),
        files=list(f.files) if f.has_files else None,
        entrypoint=_opt(f, "entrypoint"),
        args=list(f.args) if f.has_args else None,
        test_cases=list(f.test_cases) if f.has_test_cases else None,
        stop_on_first_failure=_opt(f, "stop_on_first_failure"),
        callback_url=_opt(f, "callback_url"),
        clear_callback_url=f.clear_callback_url,
        early=[Violation(v.field, v.tag, v.message, v.value) for v in f.early],
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
        script_content=t.script_content or "",
        script_type=t.script_type,
        status=t.status,
        priority=t.priority,
        timeout_seconds=t.timeout_seconds,
        metadata_json=json.dumps(t.metadata, separators=(",", ":"), ensure_ascii=False),
        stdin=t.stdin,
        env=t.env,
        memory_limit_mb=t.memory_limit_mb,
        cpu_limit=t.cpu_limit,
        max_output_bytes=t.max_output_bytes,
        created_at=_ts(t.created_at),
        updated_at=_ts(t.updated_at),
        version=t.version,
        files=t.inputs.files,
        entrypoint=t.inputs.entrypoint,
        args=t.inputs.args,
        test_cases=t.inputs.test_cases,
        stop_on_first_failure=t.inputs.stop_on_first_failure,
        callback_url=t.callback_url,
        webhook_secret=t.webhook_secret or "",
        shared_role=t.shared_role,
    )


# How long a cancelled execution is said to be waiting for its run's output; an executor that
# never reports (it died) does not keep it waiting forever.
OUTPUT_WAIT = dt.timedelta(seconds=60)


def execution_message(
    e: ExecutionRecord, *, with_layout: bool = False, now: dt.datetime | None = None
) -> tasks_pb2.Execution:
    """The protobuf form of an execution (its output layout only when asked for)."""
    now = now or dt.datetime.now(dt.UTC)
    pending = e.output_pending and (e.completed_at is None or now - e.completed_at < OUTPUT_WAIT)
    return tasks_pb2.Execution(
        id=str(e.id),
        task_id=str(e.task_id) if e.task_id else "",
        user_id=str(e.user_id),
        status=e.status,
        return_code=e.return_code,
        stdout=e.stdout,
        stderr=e.stderr,
        execution_time_ms=e.execution_time_ms,
        memory_usage_bytes=e.memory_usage_bytes,
        cpu_time_ms=e.cpu_time_ms,
        exit_signal=e.exit_signal,
        compile_output=e.compile_output,
        compile_time_ms=e.compile_time_ms,
        output_spans=(e.output_spans or []) if with_layout else [],
        output_pending=pending,
        started_at=_ts(e.started_at),
        completed_at=_ts(e.completed_at),
        created_at=_ts(e.created_at),
        stdout_truncated=e.stdout_truncated,
        stderr_truncated=e.stderr_truncated,
        termination_reason=e.termination_reason,
        termination_detail=e.termination_detail,
        attempt=e.attempt,
        script_type=e.script_type,
        version=e.version,
        limits=_limits(e.limits),
        inputs=e.inputs,
        verdict=e.verdict,
        passed=e.passed,
        total=e.total,
        cases=e.cases,
        claim_tag=claim_tag(e.claim_hash) if e.claim_hash else "",
        started_by=str(e.started_by or e.user_id),
    )


def _limits(limits: dict[str, Any] | None) -> jobs_pb2.Limits | None:
    if not limits:
        return None
    return jobs_pb2.Limits(
        timeout_seconds=int(limits.get("timeout_seconds", 0)),
        memory_bytes=int(limits.get("memory_limit_mb", 0)) * 1024 * 1024,
        cpu=float(limits.get("cpu_limit", 0.0)),
        max_output_bytes=int(limits.get("max_output_bytes", 0)),
    )


def _pagination(page: Page[Any]) -> tasks_pb2.Pagination:
    return tasks_pb2.Pagination(has_more=page.has_more, next_cursor=page.next_cursor)


class TasksServicer(tasks_pb2_grpc.TasksServiceServicer):
    """Each RPC: request → domain call → response (see tasks.proto for the contract)."""

    def __init__(
        self,
        tasks: TaskService,
        executions: ExecutionService,
        lists: ExecutionList,
        policy: RuntimePolicy,
        stats: PlatformStats,
        shares: ShareService,
    ) -> None:
        self._tasks = tasks
        self._executions = executions
        self._lists = lists
        self._policy = policy
        self._stats = stats
        self._shares = shares

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
            shared=_opt(request, "shared"),
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
        return execution_message(execution, with_layout=request.with_output_layout)

    async def ListExecutions(
        self, request: tasks_pb2.ListExecutionsRequest, context: Context
    ) -> tasks_pb2.ListExecutionsResponse:
        query = ExecutionQuery(
            limit=request.limit,
            offset=_opt(request, "offset"),
            cursor=_opt(request, "cursor"),
            task_id=request.task_id or None,
            status=_opt(request, "status"),
            script_type=_opt(request, "script_type"),
            created_after=_time(request, "created_after"),
            created_before=_time(request, "created_before"),
            ids=tuple(request.ids),
            whole_task=request.whole_task,
        )
        with field_violations(context):
            page = await self._lists.list(_caller(request.caller), query)
        return tasks_pb2.ListExecutionsResponse(
            executions=[execution_message(e) for e in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            pagination=_pagination(page),
        )

    async def CreateRuns(
        self, request: tasks_pb2.CreateRunsRequest, context: Context
    ) -> tasks_pb2.CreateRunsResponse:
        with field_violations(context):
            created, secret = await self._executions.run(
                _caller(request.caller), [task_patch(f) for f in request.runs]
            )
        return tasks_pb2.CreateRunsResponse(
            executions=[execution_message(e) for e in created], webhook_secret=secret or ""
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
        stdout, stderr = _opt(request, "stdout"), _opt(request, "stderr")
        change = ExecutionUpdate(
            status=_opt(request, "status"),
            return_code=_opt(request, "return_code"),
            stdout=None if stdout is None else stdout.encode(),
            stderr=None if stderr is None else stderr.encode(),
            execution_time_ms=_opt(request, "execution_time_ms"),
            memory_usage_bytes=_opt(request, "memory_usage_bytes"),
            stdout_truncated=_opt(request, "stdout_truncated"),
            stderr_truncated=_opt(request, "stderr_truncated"),
            termination_reason=_opt(request, "termination_reason"),
        )
        with field_violations(context):
            execution = await self._executions.update(_caller(request.caller), request.id, change)
        return execution_message(execution)

    async def ListRuntimes(
        self, request: tasks_pb2.ListRuntimesRequest, context: Context
    ) -> tasks_pb2.ListRuntimesResponse:
        return self._policy.message()

    async def GetStats(
        self, request: tasks_pb2.GetStatsRequest, context: Context
    ) -> tasks_pb2.GetStatsResponse:
        return await self._stats.collect(_caller(request.caller), request.window_minutes)

    # Sharing (issue 18).

    async def ListShares(
        self, request: tasks_pb2.ListSharesRequest, context: Context
    ) -> tasks_pb2.ListSharesResponse:
        with field_violations(context):
            found = await self._shares.list_shares(_caller(request.caller), request.task_id)
        return tasks_pb2.ListSharesResponse(shares=[share_message(s) for s in found])

    async def PutShare(
        self, request: tasks_pb2.PutShareRequest, context: Context
    ) -> tasks_pb2.PutShareResponse:
        with field_violations(context):
            share, created = await self._shares.put_share(
                _caller(request.caller), request.task_id, request.email, request.role
            )
        return tasks_pb2.PutShareResponse(share=share_message(share), created=created)

    async def DeleteShare(
        self, request: tasks_pb2.DeleteShareRequest, context: Context
    ) -> tasks_pb2.DeleteShareResponse:
        with field_violations(context):
            await self._shares.delete_share(_caller(request.caller), request.task_id, request.email)
        return tasks_pb2.DeleteShareResponse()


def share_message(share: ShareRecord) -> tasks_pb2.Share:
    """The protobuf form of a share."""
    return tasks_pb2.Share(
        email=share.email,
        role=share.role,
        created_at=_ts(share.created_at),
        updated_at=_ts(share.updated_at),
    )
