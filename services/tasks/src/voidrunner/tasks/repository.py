"""SQL access for tasks, executions and the outbox (queries live in sql/queries.sql).

Every method takes the connection it runs on, so the service decides what shares a transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, fields, replace
from typing import Any

import asyncpg

from voidrunner.common.db import Conn, Queries
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks.cursor import SortField, SortOrder, SortValue


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A row of `tasks`."""

    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    description: str | None
    # None in the many-file form (inputs.files).
    script_content: str | None
    script_type: str
    status: str
    priority: int
    timeout_seconds: int
    metadata: dict[str, Any]
    stdin: bytes | None
    env: dict[str, str]
    memory_limit_mb: int
    cpu_limit: float
    max_output_bytes: int
    version: str
    # Files, entrypoint, arguments and test cases (source and stdin are the columns above).
    inputs: jobs_pb2.RunInputs
    created_at: dt.datetime
    updated_at: dt.datetime
    # Kept beside the task (task_callbacks); filled in by tasks.webhooks.callbacks.
    callback_url: str | None = None
    # Only in the answer to the save that created the owner's signing secret.
    webhook_secret: str | None = None
    # Set when the reader is not the owner: the role the task is shared with them in.
    shared_role: str | None = None

    def sort_value(self, field: SortField) -> SortValue:
        """This row's value of a sort key (for the next page's cursor)."""
        value: SortValue = getattr(self, field.value)
        return value


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """A row of `executions`."""

    id: uuid.UUID
    task_id: uuid.UUID | None
    user_id: uuid.UUID
    status: str
    attempt: int
    return_code: int | None
    stdout: bytes | None
    stderr: bytes | None
    stdout_truncated: bool
    stderr_truncated: bool
    termination_reason: str | None
    termination_detail: str | None
    execution_time_ms: int | None
    memory_usage_bytes: int | None
    cpu_time_ms: int | None
    exit_signal: str | None
    compile_output: bytes | None
    compile_time_ms: int | None
    # The live log's chunk layout (jobs.v1.RunOutput.spans); None when unknown.
    output_spans: list[int] | None
    deadline_at: dt.datetime | None
    output_pending: bool
    script_type: str
    version: str
    # {timeout_seconds, memory_limit_mb, cpu_limit, max_output_bytes} of the run.
    limits: dict[str, Any] | None
    # A one-shot run's own inputs (None for a task's execution, and in list summaries).
    inputs: jobs_pb2.RunInputs | None
    verdict: str | None
    passed: int
    total: int
    cases: jobs_pb2.CaseRecord | None
    idempotency_key: str | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    created_at: dt.datetime
    # The hash of the current attempt's claim (contracts.claims); only single-execution reads
    # carry it (None in lists).
    claim_hash: bytes | None = None
    # Who started it (the owner, or a runner the task is shared with); None only in records
    # built before it was read back.
    started_by: uuid.UUID | None = None
    # Set when the reader is not the owner: the role its task is shared with them in.
    shared_role: str | None = None
    # After an update: whether its owner has an enabled webhook or it has a callback URL (a
    # status change then queues deliveries); None when not read.
    webhook_subscribed: bool | None = None

    def with_changes(self, **changes: Any) -> ExecutionRecord:
        """A copy with some fields replaced."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class NewExecution:
    """What an execution starts with: whose it is, what runs, with which limits."""

    id: uuid.UUID
    task_id: uuid.UUID | None
    user_id: uuid.UUID
    script_type: str
    version: str
    limits: dict[str, Any]
    # A one-shot run's inputs (a task's are on the task).
    inputs: jobs_pb2.RunInputs | None = None
    idempotency_key: str | None = None
    # A one-shot run's own; a task's execution copies its task's (insert_execution does).
    callback_url: str | None = None
    # Who starts it (its quota is charged); the owner when None.
    started_by: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    """Filters of the list of a user's executions; None means "any"."""

    status: str | None = None
    script_type: str | None = None
    task_id: uuid.UUID | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    ids: list[uuid.UUID] | None = None


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """List filters; None means "any". `q_pattern` is an ILIKE pattern, already escaped."""

    status: str | None = None
    script_type: str | None = None
    q_pattern: str | None = None
    metadata: dict[str, Any] | None = None


_TASK_FIELDS = tuple(f.name for f in fields(TaskRecord))
_EXECUTION_FIELDS = tuple(f.name for f in fields(ExecutionRecord))


def _task(row: asyncpg.Record) -> TaskRecord:
    values = {name: row[name] for name in _TASK_FIELDS if name in row}
    values["inputs"] = jobs_pb2.RunInputs.FromString(row["inputs"] or b"")
    return TaskRecord(**values)


def task_of(row: asyncpg.Record) -> TaskRecord:
    """A task from a row of the `tasks` columns (plus, optionally, shared_role)."""
    return _task(row)


def execution_of(row: asyncpg.Record) -> ExecutionRecord:
    """An execution from a row of the `executions` columns (plus, optionally, shared_role)."""
    return _execution(row)


def _execution(row: asyncpg.Record) -> ExecutionRecord:
    values = {name: row[name] for name in _EXECUTION_FIELDS if name in row}
    raw_inputs, raw_cases = row["inputs"], row["cases"]
    values["inputs"] = None if raw_inputs is None else jobs_pb2.RunInputs.FromString(raw_inputs)
    values["cases"] = None if raw_cases is None else jobs_pb2.CaseRecord.FromString(raw_cases)
    return ExecutionRecord(**values)


def _blob(message: jobs_pb2.RunInputs | jobs_pb2.CaseRecord | None) -> bytes | None:
    """A message as stored: None for none (or an empty one)."""
    if message is None or message.ByteSize() == 0:
        return None
    return message.SerializeToString()


class TaskRepository:
    """Tasks and executions."""

    def __init__(self, queries: Queries) -> None:
        self._q = queries
        # The fixed set of list statements, keyed by sort; user input only selects a key.
        self._lists = {
            (f, o): getattr(queries, f"list_tasks_{f.value}_{o.value}")
            for f in SortField
            for o in SortOrder
        }

    async def insert_task(self, conn: Conn, task: TaskRecord) -> TaskRecord:
        """Insert `task`; the database sets status and timestamps."""
        row = await conn.fetchrow(
            self._q.insert_task,
            task.id,
            task.user_id,
            task.name,
            task.description,
            task.script_content,
            task.script_type,
            task.priority,
            task.timeout_seconds,
            task.metadata,
            task.stdin,
            task.env,
            task.memory_limit_mb,
            task.cpu_limit,
            task.max_output_bytes,
            task.version,
            _blob(task.inputs),
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        return _task(row)

    async def get_task(
        self, conn: Conn, task_id: uuid.UUID, user_id: uuid.UUID
    ) -> TaskRecord | None:
        """The caller's task; None when missing or someone else's."""
        row = await conn.fetchrow(self._q.get_task, task_id, user_id)
        return None if row is None else _task(row)

    async def lock_task(
        self, conn: Conn, task_id: uuid.UUID, user_id: uuid.UUID | None
    ) -> TaskRecord | None:
        """The task, row-locked until the transaction ends (any owner when user_id is None)."""
        if user_id is None:
            row = await conn.fetchrow(self._q.lock_task_by_id, task_id)
        else:
            row = await conn.fetchrow(self._q.lock_task, task_id, user_id)
        return None if row is None else _task(row)

    async def lock_task_of_execution(self, conn: Conn, execution_id: uuid.UUID) -> bool:
        """Row-lock the task of an execution (if it has one) until the transaction ends;
        False when there is no such execution."""
        row = await conn.fetchrow(self._q.lock_task_of_execution, execution_id)
        return bool(row is not None and row["found"])

    async def update_task(self, conn: Conn, task: TaskRecord) -> TaskRecord:
        """Write every editable field of `task` and bump updated_at."""
        row = await conn.fetchrow(
            self._q.update_task,
            task.id,
            task.name,
            task.description,
            task.script_content,
            task.script_type,
            task.priority,
            task.timeout_seconds,
            task.metadata,
            task.stdin,
            task.env,
            task.memory_limit_mb,
            task.cpu_limit,
            task.max_output_bytes,
            task.version,
            _blob(task.inputs),
        )
        assert row is not None  # the caller holds the row lock
        return _task(row)

    async def set_task_status(self, conn: Conn, task_id: uuid.UUID, status: str) -> None:
        """The status the task takes from its latest execution (updated_at stays)."""
        await conn.execute(self._q.set_task_status, task_id, status)

    async def delete_task(self, conn: Conn, task_id: uuid.UUID) -> None:
        """Delete the task; its executions and outbox rows go with it."""
        await conn.execute(self._q.delete_task, task_id)

    async def list_tasks(
        self,
        conn: Conn,
        user_id: uuid.UUID,
        filters: TaskFilter,
        sort: tuple[SortField, SortOrder],
        after: tuple[SortValue, uuid.UUID] | None,
        limit: int,
        offset: int,
    ) -> list[TaskRecord]:
        """One page of the user's tasks, `limit` rows after the keyset position or offset."""
        value, row_id = after if after is not None else (None, None)
        rows = await conn.fetch(
            self._lists[sort],
            user_id,
            filters.status,
            filters.script_type,
            filters.q_pattern,
            filters.metadata,
            value,
            row_id,
            limit,
            offset,
        )
        return [_task(r) for r in rows]

    async def count_tasks(self, conn: Conn, user_id: uuid.UUID, filters: TaskFilter) -> int:
        """How many of the user's tasks match `filters` (the offset-mode total)."""
        count: int = await conn.fetchval(
            self._q.count_tasks,
            user_id,
            filters.status,
            filters.script_type,
            filters.q_pattern,
            filters.metadata,
        )
        return count

    async def insert_execution(
        self,
        conn: Conn,
        new: NewExecution,
    ) -> ExecutionRecord | None:
        """A new pending execution; None when its task already has an active one."""
        row = await conn.fetchrow(
            self._q.insert_execution,
            new.id,
            new.task_id,
            new.user_id,
            new.idempotency_key,
            new.script_type,
            new.version,
            new.limits,
            _blob(new.inputs),
            new.callback_url,
            new.started_by or new.user_id,
        )
        return None if row is None else _execution(row)

    async def execution_by_key(
        self, conn: Conn, task_id: uuid.UUID, key: str, started_by: uuid.UUID
    ) -> ExecutionRecord | None:
        """The execution an earlier start by the same user with this Idempotency-Key created."""
        row = await conn.fetchrow(self._q.execution_by_idempotency_key, task_id, key, started_by)
        return None if row is None else _execution(row)

    async def get_execution(
        self, conn: Conn, execution_id: uuid.UUID, user_id: uuid.UUID | None
    ) -> ExecutionRecord | None:
        """The execution; the caller's only, unless user_id is None (privileged callers)."""
        if user_id is None:
            row = await conn.fetchrow(self._q.get_execution_any_owner, execution_id)
        else:
            row = await conn.fetchrow(self._q.get_execution, execution_id, user_id)
        return None if row is None else _execution(row)

    async def lock_execution(self, conn: Conn, execution_id: uuid.UUID) -> ExecutionRecord | None:
        """The execution, row-locked until the transaction ends."""
        row = await conn.fetchrow(self._q.lock_execution, execution_id)
        return None if row is None else _execution(row)

    async def update_execution(
        self, conn: Conn, e: ExecutionRecord, task_status: str | None = None
    ) -> ExecutionRecord:
        """Write the mutable fields of `e`, and `task_status` to its task when given (the
        caller holds both row locks)."""
        row = await conn.fetchrow(
            self._q.update_execution,
            e.id,
            e.status,
            e.return_code,
            e.stdout,
            e.stderr,
            e.stdout_truncated,
            e.stderr_truncated,
            e.termination_reason,
            e.execution_time_ms,
            e.memory_usage_bytes,
            e.started_at,
            e.completed_at,
            e.attempt,
            e.termination_detail,
            e.cpu_time_ms,
            e.exit_signal,
            e.compile_output,
            e.compile_time_ms,
            e.output_spans,
            e.deadline_at,
            e.output_pending,
            e.verdict,
            e.passed,
            e.total,
            _blob(e.cases),
            e.claim_hash,
            task_status,
        )
        assert row is not None  # the caller holds the row lock
        return _execution(row)

    async def task_any_owner(self, conn: Conn, task_id: uuid.UUID) -> TaskRecord | None:
        """The task whoever owns it (privileged paths only)."""
        row = await conn.fetchrow(self._q.get_task_any_owner, task_id)
        return None if row is None else _task(row)

    async def overdue_execution_ids(
        self,
        conn: Conn,
        pending_before: dt.datetime,
        running_grace_seconds: float,
        now: dt.datetime,
        limit: int,
    ) -> list[uuid.UUID]:
        """Active executions past their deadline, oldest first."""
        rows = await conn.fetch(
            self._q.list_overdue_executions, pending_before, running_grace_seconds, now, limit
        )
        return [r["id"] for r in rows]

    async def list_executions(
        self,
        conn: Conn,
        task_id: uuid.UUID,
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
        offset: int,
    ) -> list[ExecutionRecord]:
        """One page of a task's executions, newest first."""
        stamp, row_id = after if after is not None else (None, None)
        rows = await conn.fetch(self._q.list_executions, task_id, stamp, row_id, limit, offset)
        return [_execution(r) for r in rows]

    async def list_user_executions(
        self,
        conn: Conn,
        user_id: uuid.UUID,
        filters: ExecutionFilter,
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
        offset: int,
    ) -> list[ExecutionRecord]:
        """One page of the user's executions (tasks and runs), newest first, as summaries."""
        stamp, row_id = after if after is not None else (None, None)
        rows = await conn.fetch(
            self._q.list_user_executions,
            user_id,
            *execution_filter_params(filters),
            stamp,
            row_id,
            limit,
            offset,
        )
        return [_execution(r) for r in rows]

    async def count_user_executions(
        self, conn: Conn, user_id: uuid.UUID, filters: ExecutionFilter
    ) -> int:
        """How many of the user's executions match (the offset-mode total)."""
        count: int = await conn.fetchval(
            self._q.count_user_executions, user_id, *execution_filter_params(filters)
        )
        return count

    async def count_executions(self, conn: Conn, task_id: uuid.UUID) -> int:
        """How many executions the task has had."""
        count: int = await conn.fetchval(self._q.count_executions, task_id)
        return count


def execution_filter_params(f: ExecutionFilter) -> tuple[Any, ...]:
    """The filter parameters of the execution list queries, in their order ($2 to $7)."""
    return (f.status, f.script_type, f.task_id, f.created_after, f.created_before, f.ids)
