"""Execution rules: start, read, list, cancel and (privileged) progress updates.

Locks are always taken task row first, then execution row, so a start, a cancel and an update of
the same task serialise without deadlocks. Starting relies on the task row lock and, underneath
it, on the partial unique index that allows one active execution per task.
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from voidrunner.common.logs import get_logger
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks import cursor as cursors
from voidrunner.tasks.cursor import Cursor, SortField, SortOrder
from voidrunner.tasks.errors import (
    AccessDenied,
    AlreadyRunning,
    ExecutionNotFound,
    FieldErrors,
    InvalidCursor,
    TaskNotFound,
    Violation,
)
from voidrunner.tasks.notifier import Notifier
from voidrunner.tasks.outbox import Outbox
from voidrunner.tasks.repository import ExecutionRecord, TaskRecord, TaskRepository
from voidrunner.tasks.service import Caller, Page, check_limit, check_offset, parse_id
from voidrunner.tasks.state import (
    DEFAULT_REASON,
    FINAL,
    Status,
    TerminationReason,
    check_cancel,
    check_transition,
    task_status_after,
)

_log = get_logger("voidrunner.tasks.executions")
EXECUTIONS_CURSOR = "executions"
MAX_IDEMPOTENCY_KEY = 255
MIB = 1024 * 1024
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class ExecutionUpdate:
    """A privileged progress report; None means "unchanged"."""

    status: str | None = None
    return_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    execution_time_ms: int | None = None
    memory_usage_bytes: int | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None
    termination_reason: str | None = None
    termination_detail: str | None = None
    # Set by the pipeline's events: which delivery ran it, and when it really started.
    attempt: int | None = None
    started_at: dt.datetime | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build_job(task: TaskRecord, execution: ExecutionRecord, now: dt.datetime) -> jobs_pb2.Job:
    """The job the scheduler publishes: a snapshot of the task as it was when the run started."""
    enqueued = Timestamp()
    enqueued.FromDatetime(now)
    return jobs_pb2.Job(
        execution_id=str(execution.id),
        task_id=str(task.id),
        user_id=str(task.user_id),
        runtime=task.script_type,
        source=task.script_content,
        stdin=task.stdin or b"",
        env=task.env,
        limits=jobs_pb2.Limits(
            timeout_seconds=task.timeout_seconds,
            memory_bytes=task.memory_limit_mb * MIB,
            cpu=task.cpu_limit,
            max_output_bytes=task.max_output_bytes,
        ),
        priority=task.priority,
        attempt=execution.attempt,
        enqueued_at=enqueued,
    )


class ExecutionService:
    """Owns executions and the outbox rows that hand them to the scheduler."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: TaskRepository,
        outbox: Outbox,
        notifier: Notifier,
        clock: Callable[[], dt.datetime] = _now,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        """`on_queued` is called after a start committed its outbox job (the local relay)."""
        self._pool = pool
        self._repo = repo
        self._outbox = outbox
        self._notifier = notifier
        self._clock = clock
        self._on_queued = on_queued

    async def start(
        self, caller: Caller, task_id: str, idempotency_key: str | None
    ) -> tuple[ExecutionRecord, bool]:
        """A new pending execution and its outbox job, or (with a known key) the earlier one.

        Returns (execution, replayed).
        """
        key = idempotency_key or None
        if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
            raise FieldErrors(
                [
                    Violation(
                        "Idempotency-Key", "max", "Idempotency-Key must be at most 255 characters"
                    )
                ]
            )
        tid = parse_id(task_id)
        if tid is None:
            raise TaskNotFound
        async with self._pool.acquire() as conn, conn.transaction():
            task = await self._repo.lock_task(conn, tid, caller.user_id)
            if task is None:
                raise TaskNotFound
            if key is not None:
                earlier = await self._repo.execution_by_key(conn, tid, key)
                if earlier is not None:
                    return earlier, True
            if task.status == Status.RUNNING:
                raise AlreadyRunning
            execution = await self._repo.insert_execution(conn, uuid.uuid4(), task, key)
            if execution is None:  # the partial unique index caught what the status did not
                raise AlreadyRunning
            await self._repo.set_task_status(conn, tid, Status.RUNNING.value)
            await self._outbox.add(conn, execution.id, build_job(task, execution, self._clock()))
        if self._on_queued is not None:
            self._on_queued()
        _log.info("execution started", task_id=str(tid), execution_id=str(execution.id))
        return execution, False

    async def get(self, caller: Caller, execution_id: str) -> ExecutionRecord:
        """The caller's execution, or ExecutionNotFound."""
        eid = parse_id(execution_id)
        if eid is None:
            raise ExecutionNotFound
        async with self._pool.acquire() as conn:
            found = await self._repo.get_execution(conn, eid, caller.user_id)
        if found is None:
            raise ExecutionNotFound
        return found

    async def list(
        self, caller: Caller, task_id: str, limit: int, offset: int | None, cursor: str | None
    ) -> Page[ExecutionRecord]:
        """A page of the task's executions, newest first (offset with total, or keyset)."""
        check_limit(limit)
        check_offset(offset, cursor)
        after = cursors.decode(cursor, EXECUTIONS_CURSOR) if cursor else None
        position = None
        if after is not None:
            if not isinstance(after.value, dt.datetime):
                raise InvalidCursor
            position = (after.value, after.id)
        tid = parse_id(task_id)
        if tid is None:
            raise TaskNotFound
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            if await self._repo.get_task(conn, tid, caller.user_id) is None:
                raise TaskNotFound
            rows = await self._repo.list_executions(
                conn,
                tid,
                position,
                limit + 1,
                0 if after else (offset or 0),
            )
            total = None if after else await self._repo.count_executions(conn, tid)
        has_more = len(rows) > limit
        items = rows[:limit]
        next_cursor = None
        if has_more:
            last = items[-1]
            next_cursor = cursors.encode(
                Cursor(
                    EXECUTIONS_CURSOR,
                    SortField.CREATED_AT,
                    SortOrder.DESC,
                    last.created_at,
                    last.id,
                )
            )
        return Page(
            items=items,
            limit=limit,
            has_more=has_more,
            next_cursor=next_cursor,
            total=total,
            offset=None if after else (offset or 0),
        )

    async def cancel(self, caller: Caller, execution_id: str) -> ExecutionRecord:
        """Cancel a pending (directly) or running execution; final ones are a 409."""
        eid = parse_id(execution_id)
        if eid is None:
            raise ExecutionNotFound
        async with self._pool.acquire() as conn, conn.transaction():
            found = await self._repo.get_execution(conn, eid, caller.user_id)
            if found is None:
                raise ExecutionNotFound
            await self._repo.lock_task(conn, found.task_id, None)
            current = await self._repo.lock_execution(conn, eid)
            if current is None:
                raise ExecutionNotFound
            status = Status(current.status)
            check_cancel(status)
            cancelled = await self._repo.update_execution(
                conn,
                current.with_changes(
                    status=Status.CANCELLED.value,
                    termination_reason=TerminationReason.CANCELLED.value,
                    completed_at=self._clock(),
                ),
            )
            await self._repo.set_task_status(conn, current.task_id, Status.CANCELLED.value)
            # A pending run whose job is still in the outbox never reaches an executor.
            discarded = status is Status.PENDING and await self._outbox.discard(conn, eid) > 0
        if not discarded:
            await self._notifier.cancelled(eid, started=status is Status.RUNNING)
        await self._notifier.final(eid)
        _log.info("execution cancelled", execution_id=str(eid), was=status.value)
        return cancelled

    async def overdue(
        self, caller: Caller, pending_seconds: float, running_grace_seconds: float, limit: int
    ) -> Sequence[tuple[ExecutionRecord, jobs_pb2.Job]]:
        """Executions stuck past their deadline, each with the job to queue it again."""
        if not caller.privileged:
            raise AccessDenied
        now = self._clock()
        found: builtins.list[tuple[ExecutionRecord, jobs_pb2.Job]] = []
        async with self._pool.acquire() as conn:
            ids = await self._repo.overdue_execution_ids(
                conn,
                now - dt.timedelta(seconds=pending_seconds),
                running_grace_seconds,
                now,
                max(1, min(limit, 500)),
            )
            for eid in ids:
                execution = await self._repo.get_execution(conn, eid, None)
                task = (
                    None
                    if execution is None
                    else await self._repo.task_any_owner(conn, execution.task_id)
                )
                if execution is not None and task is not None:
                    found.append((execution, build_job(task, execution, now)))
        return found

    async def update(
        self, caller: Caller, execution_id: str, change: ExecutionUpdate
    ) -> ExecutionRecord:
        """Apply a progress report through the state machine (service and admin callers only)."""
        if not caller.privileged:
            raise AccessDenied
        target = _check_update(change)
        eid = parse_id(execution_id)
        if eid is None:
            raise ExecutionNotFound
        async with self._pool.acquire() as conn, conn.transaction():
            # One round trip for the task's lock (every event of every run comes through here).
            if not await self._repo.lock_task_of_execution(conn, eid):
                raise ExecutionNotFound
            current = await self._repo.lock_execution(conn, eid)
            if current is None:
                raise ExecutionNotFound
            status = Status(current.status)
            new_status = target or status
            if status in FINAL or new_status != status:
                check_transition(status, new_status)
            updated = await self._repo.update_execution(
                conn, self._apply(current, new_status, change)
            )
            if new_status != status:
                await self._repo.set_task_status(
                    conn, current.task_id, task_status_after(new_status).value
                )
        if new_status is Status.CANCELLED:
            await self._notifier.cancelled(eid, started=status is Status.RUNNING)
        if new_status != status and new_status in FINAL:
            await self._notifier.final(eid)
        return updated

    def _apply(self, e: ExecutionRecord, status: Status, c: ExecutionUpdate) -> ExecutionRecord:
        now = self._clock()
        reason = c.termination_reason or e.termination_reason
        if status in FINAL and reason is None:
            reason = DEFAULT_REASON[status].value
        return e.with_changes(
            status=status.value,
            return_code=_keep(c.return_code, e.return_code),
            stdout=_clean_output(c.stdout, e.stdout),
            stderr=_clean_output(c.stderr, e.stderr),
            stdout_truncated=_keep(c.stdout_truncated, e.stdout_truncated),
            stderr_truncated=_keep(c.stderr_truncated, e.stderr_truncated),
            termination_reason=reason,
            termination_detail=_keep(c.termination_detail, e.termination_detail),
            attempt=_keep(c.attempt, e.attempt),
            execution_time_ms=_keep(c.execution_time_ms, e.execution_time_ms),
            memory_usage_bytes=_keep(c.memory_usage_bytes, e.memory_usage_bytes),
            started_at=e.started_at or c.started_at or (now if status is Status.RUNNING else None),
            completed_at=now if status in FINAL else e.completed_at,
        )


def _newer_attempt(c: ExecutionUpdate, e: ExecutionRecord) -> bool:
    # A redelivered job started again elsewhere: its deadline counts from the new start.
    return c.attempt is not None and c.attempt > e.attempt


def _keep(value: V | None, current: V) -> V:
    return current if value is None else value


def _clean_output(value: str | None, current: str | None) -> str | None:
    # Program output is data, not input to reject: NUL (which text columns cannot hold) is
    # replaced rather than refused, so a result is never lost over one byte.
    if value is None:
        return current
    return value.replace("\x00", "\ufffd")


def _check_update(change: ExecutionUpdate) -> Status | None:
    found: list[Violation] = []
    target = None
    if change.status is not None:
        try:
            target = Status(change.status)
        except ValueError:
            allowed = ", ".join(s.value for s in Status)
            found.append(
                Violation("status", "oneof", f"status must be one of: {allowed}", change.status)
            )
    if change.termination_reason is not None:
        try:
            TerminationReason(change.termination_reason)
        except ValueError:
            allowed = ", ".join(r.value for r in TerminationReason)
            found.append(
                Violation(
                    "termination_reason",
                    "oneof",
                    f"termination_reason must be one of: {allowed}",
                    change.termination_reason,
                )
            )
    for name in ("execution_time_ms", "memory_usage_bytes"):
        value = getattr(change, name)
        if value is not None and value < 0:
            found.append(Violation(name, "min", f"{name} must be at least 0", str(value)))
    if target is Status.COMPLETED and change.return_code not in (None, 0):
        found.append(
            Violation(
                "return_code",
                "eq",
                "a completed execution has return_code 0",
                str(change.return_code),
            )
        )
    if found:
        raise FieldErrors(found)
    return target
