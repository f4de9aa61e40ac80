"""Sharing tasks: the owner grants an email a role; the reads that honour those grants.

A share names an email, never a user id: the caller's email comes with every request (from the
signed token the gateway verified), so a share to an email without an account takes effect when
someone registers it, and nothing here ever asks whether an account exists. Nor does anything
answer differently for one: a share to an unknown email is stored and listed like any other.

Visibility rules (every check is one query, so revoking a share takes effect on the next call):
- a task shared with the caller is visible to them; otherwise it is "not found", as before;
- a visible task that is not theirs to change is "access denied" (editing, deleting, sharing;
  starting and cancelling when they only view it);
- non-owners never see the task's env values nor its hidden cases' data (`redacted`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import asyncpg

from voidrunner.common.db import Conn, Queries
from voidrunner.common.text import is_storable_text
from voidrunner.contracts.shares import MAX_SHARES_PER_TASK, ShareRole
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks.cursor import SortField, SortOrder, SortValue
from voidrunner.tasks.errors import (
    AccessDenied,
    FieldErrors,
    ShareNotFound,
    TaskNotFound,
    TooManyShares,
    Violation,
)
from voidrunner.tasks.repository import (
    ExecutionFilter,
    ExecutionRecord,
    TaskFilter,
    TaskRecord,
    execution_filter_params,
    execution_of,
    task_of,
)

if TYPE_CHECKING:  # service.py builds on this module
    from voidrunner.tasks.service import Caller

__all__ = ["ShareRecord", "ShareRepository", "ShareService", "redacted"]

MAX_EMAIL = 255


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """A row of `task_shares`."""

    email: str
    role: str
    created_at: dt.datetime
    updated_at: dt.datetime


def _share(row: asyncpg.Record) -> ShareRecord:
    return ShareRecord(row["email"], row["role"], row["created_at"], row["updated_at"])


class ShareRepository:
    """Shares, and the task and execution reads of callers who may not own what they read
    (queries in sql/shares.sql)."""

    def __init__(self, queries: Queries) -> None:
        self._q = queries
        self._lists = {
            (f, o): getattr(queries, f"list_shared_tasks_{f.value}_{o.value}")
            for f in SortField
            for o in SortOrder
        }

    async def visible_task(
        self, conn: Conn, task_id: uuid.UUID, user_id: uuid.UUID, email: str, *, lock: bool = False
    ) -> TaskRecord | None:
        """The task when the caller owns it or it is shared with `email` (shared_role set
        then); row-locked until the transaction ends with `lock`."""
        query = self._q.lock_visible_task if lock else self._q.visible_task
        row = await conn.fetchrow(query, task_id, user_id, email)
        return None if row is None else task_of(row)

    async def visible_execution(
        self, conn: Conn, execution_id: uuid.UUID, user_id: uuid.UUID, email: str
    ) -> ExecutionRecord | None:
        """The execution when the caller owns it or its task is shared with `email`."""
        row = await conn.fetchrow(self._q.visible_execution, execution_id, user_id, email)
        return None if row is None else execution_of(row)

    async def list_shares(self, conn: Conn, task_id: uuid.UUID) -> list[ShareRecord]:
        """The task's shares, oldest first."""
        return [_share(r) for r in await conn.fetch(self._q.list_shares, task_id)]

    async def count_shares(self, conn: Conn, task_id: uuid.UUID) -> int:
        """How many emails the task is shared with."""
        count: int = await conn.fetchval(self._q.count_shares, task_id)
        return count

    async def put_share(
        self, conn: Conn, task_id: uuid.UUID, email: str, role: ShareRole
    ) -> tuple[ShareRecord, bool]:
        """Create the share or change its role; (share, created)."""
        row = await conn.fetchrow(self._q.put_share, task_id, email, role.value)
        assert row is not None  # an upsert always returns its row
        return _share(row), bool(row["created"])

    async def delete_share(self, conn: Conn, task_id: uuid.UUID, email: str) -> bool:
        """Remove the share; False when there was none."""
        return await conn.fetchrow(self._q.delete_share, task_id, email) is not None

    async def list_shared_tasks(
        self,
        conn: Conn,
        email: str,
        filters: TaskFilter,
        sort: tuple[SortField, SortOrder],
        after: tuple[SortValue, uuid.UUID] | None,
        limit: int,
        offset: int,
    ) -> list[TaskRecord]:
        """One page of the tasks shared with `email` (as TaskRepository.list_tasks)."""
        value, row_id = after if after is not None else (None, None)
        rows = await conn.fetch(
            self._lists[sort],
            email,
            filters.status,
            filters.script_type,
            filters.q_pattern,
            filters.metadata,
            value,
            row_id,
            limit,
            offset,
        )
        return [task_of(r) for r in rows]

    async def count_shared_tasks(self, conn: Conn, email: str, filters: TaskFilter) -> int:
        """How many tasks shared with `email` match `filters`."""
        count: int = await conn.fetchval(
            self._q.count_shared_tasks,
            email,
            filters.status,
            filters.script_type,
            filters.q_pattern,
            filters.metadata,
        )
        return count

    async def list_caller_executions(
        self,
        conn: Conn,
        user_id: uuid.UUID,
        email: str,
        filters: ExecutionFilter,
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
        offset: int,
    ) -> list[ExecutionRecord]:
        """A page of the caller's executions (their tasks' and runs', and what they started on
        tasks still shared with them), newest first, as summaries."""
        stamp, row_id = after if after is not None else (None, None)
        rows = await conn.fetch(
            self._q.list_caller_executions,
            user_id,
            *execution_filter_params(filters),
            stamp,
            row_id,
            limit,
            offset,
            email,
        )
        return [execution_of(r) for r in rows]

    async def count_caller_executions(
        self, conn: Conn, user_id: uuid.UUID, email: str, filters: ExecutionFilter
    ) -> int:
        """How many executions `list_caller_executions` has in all (the offset-mode total)."""
        count: int = await conn.fetchval(
            self._q.count_caller_executions, user_id, *execution_filter_params(filters), email
        )
        return count


def redacted(task: TaskRecord) -> TaskRecord:
    """What a non-owner sees of a task: no env values, no callback URL (nor secret), and
    hidden cases by name alone."""
    if task.shared_role is None:
        return task
    inputs = jobs_pb2.RunInputs()
    inputs.CopyFrom(task.inputs)
    del inputs.test_cases[:]
    for case in task.inputs.test_cases:
        shown = jobs_pb2.TestCase(name=case.name, hidden=True) if case.hidden else case
        inputs.test_cases.append(shown)
    return replace(task, env={}, inputs=inputs, callback_url=None, webhook_secret=None)


def check_share(email: str, role: str, caller_email: str) -> ShareRole:
    """The role asked for; FieldErrors naming `email` or `role` when either is unusable."""
    found: list[Violation] = []
    parsed: ShareRole | None = None
    try:
        parsed = ShareRole(role)
    except ValueError:
        allowed = ", ".join(r.value for r in ShareRole)
        found.append(Violation("role", "oneof", f"role must be one of: {allowed}", role[:64]))
    # The gateway checked the address thoroughly; this keeps unstorable text out of SQL.
    if not (3 <= len(email) <= MAX_EMAIL and "@" in email and is_storable_text(email)):
        found.append(Violation("email", "email", "email must be a valid email address"))
    elif caller_email and email.lower() == caller_email.lower():
        found.append(Violation("email", "ne", "a task cannot be shared with its owner", email))
    if found:
        raise FieldErrors(found)
    assert parsed is not None
    return parsed


def refuse(task: TaskRecord | None) -> Exception:
    """The error for a caller who may not change a task: 404 unless it is shared with them."""
    return TaskNotFound() if task is None else AccessDenied()


class ShareService:
    """The owner's side of sharing: list, share (or change the role), revoke; and the
    sharee's: leave."""

    def __init__(self, pool: asyncpg.Pool, shares: ShareRepository) -> None:
        self._pool = pool
        self._shares = shares

    async def _visible(
        self, conn: Conn, caller: Caller, task_id: str
    ) -> tuple[uuid.UUID, TaskRecord | None]:
        """The task's id and the task as the caller may see it (None: not at all), row-locked."""
        try:
            tid = uuid.UUID(task_id)
        except ValueError:
            raise TaskNotFound from None
        task = await self._shares.visible_task(conn, tid, caller.user_id, caller.email, lock=True)
        return tid, task

    async def _owned(self, conn: Conn, caller: Caller, task_id: str) -> uuid.UUID:
        """The id of the caller's own task, row-locked; refused otherwise (see `refuse`)."""
        tid, task = await self._visible(conn, caller, task_id)
        if task is None or task.shared_role is not None:
            raise refuse(task)
        return tid

    async def list_shares(self, caller: Caller, task_id: str) -> list[ShareRecord]:
        """The shares of the caller's task."""
        async with self._pool.acquire() as conn, conn.transaction():
            tid = await self._owned(conn, caller, task_id)
            return await self._shares.list_shares(conn, tid)

    async def put_share(
        self, caller: Caller, task_id: str, target: str, role: str
    ) -> tuple[ShareRecord, bool]:
        """Share the caller's task with `target` in `role`, or change that share's role.

        The task's row lock serialises shares of one task, so the cap holds under races.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            tid = await self._owned(conn, caller, task_id)
            wanted = check_share(target, role, caller.email)
            count = await self._shares.count_shares(conn, tid)
            share, created = await self._shares.put_share(conn, tid, target, wanted)
            if created and count >= MAX_SHARES_PER_TASK:
                raise TooManyShares(MAX_SHARES_PER_TASK)  # rolls the insert back
            return share, created

    async def delete_share(self, caller: Caller, task_id: str, target: str) -> None:
        """Revoke a share (the owner), or leave one (the user it is shared with, naming their own
        email): the next request of that user no longer sees the task."""
        async with self._pool.acquire() as conn, conn.transaction():
            tid, task = await self._visible(conn, caller, task_id)
            leaving = bool(caller.email) and target.lower() == caller.email.lower()
            if task is None or (task.shared_role is not None and not leaving):
                raise refuse(task)
            if not await self._shares.delete_share(conn, tid, target):
                raise ShareNotFound
