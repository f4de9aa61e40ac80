"""Listing executions: one task's, or every one of a user's (tasks and one-shot runs).

A task shared with the caller lists all its executions (`whole_task`); the caller's own list
adds the executions they started on tasks still shared with them.

Newest first, filtered (status, script_type, task, creation window, ids), by offset with a total
or by keyset cursor; items are summaries without output (the full execution has it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from voidrunner.common.errors import InvalidArgument
from voidrunner.common.text import is_storable_text
from voidrunner.contracts.execution import Status
from voidrunner.tasks import cursor as cursors
from voidrunner.tasks.cursor import Cursor, SortField, SortOrder
from voidrunner.tasks.errors import InvalidCursor, TaskNotFound
from voidrunner.tasks.repository import ExecutionFilter, ExecutionRecord, TaskRepository
from voidrunner.tasks.service import Caller, Page, check_limit, check_offset, parse_id
from voidrunner.tasks.shares import ShareRepository

__all__ = ["ExecutionList", "ExecutionQuery"]

EXECUTIONS_CURSOR = "executions"
MAX_IDS = 100
MAX_SCRIPT_TYPE = 64


@dataclass(frozen=True, slots=True)
class ExecutionQuery:
    """A list request as received; validated by `ExecutionList.list`."""

    limit: int = 20
    offset: int | None = None
    cursor: str | None = None
    task_id: str | None = None
    status: str | None = None
    script_type: str | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    ids: tuple[str, ...] = ()
    # With task_id: every execution of the task the caller sees, not only their own.
    whole_task: bool = False


class ExecutionList:
    """Reads pages of executions for one caller."""

    def __init__(self, pool: asyncpg.Pool, repo: TaskRepository, shares: ShareRepository) -> None:
        self._pool = pool
        self._repo = repo
        self._shares = shares

    async def list(self, caller: Caller, query: ExecutionQuery) -> Page[ExecutionRecord]:
        """A page of the caller's executions (of one task when query.task_id is set)."""
        check_limit(query.limit)
        check_offset(query.offset, query.cursor)
        filters = _filters(query)
        after = cursors.decode(query.cursor, EXECUTIONS_CURSOR) if query.cursor else None
        position = None
        if after is not None:
            if not isinstance(after.value, dt.datetime):
                raise InvalidCursor
            position = (after.value, after.id)
        offset = 0 if after else (query.offset or 0)
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            task = None
            if filters.task_id is not None:
                task = await self._shares.visible_task(
                    conn, filters.task_id, caller.user_id, caller.email
                )
                if task is None:
                    raise TaskNotFound
            total = None
            if task is not None and query.whole_task:
                # Every execution of a task carries its owner's user_id, whoever started it.
                rows = await self._repo.list_user_executions(
                    conn, task.user_id, filters, position, query.limit + 1, offset
                )
                if after is None:
                    total = await self._repo.count_user_executions(conn, task.user_id, filters)
            else:
                rows = await self._shares.list_caller_executions(
                    conn, caller.user_id, caller.email, filters, position, query.limit + 1, offset
                )
                if after is None:
                    total = await self._shares.count_caller_executions(
                        conn, caller.user_id, caller.email, filters
                    )
        has_more = len(rows) > query.limit
        items = rows[: query.limit]
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
            limit=query.limit,
            has_more=has_more,
            next_cursor=next_cursor,
            total=total,
            offset=None if after else offset,
        )


def _filters(query: ExecutionQuery) -> ExecutionFilter:
    task_id = None
    if query.task_id:
        task_id = parse_id(query.task_id)
        if task_id is None:
            raise TaskNotFound
    status = query.status or None
    if status is not None and status not in {s.value for s in Status}:
        raise InvalidArgument(f"status must be one of: {', '.join(s.value for s in Status)}")
    script_type = query.script_type or None
    if script_type is not None and (
        len(script_type) > MAX_SCRIPT_TYPE or not is_storable_text(script_type)
    ):
        raise InvalidArgument("script_type filter is invalid")
    ids: list[uuid.UUID] | None = None
    if query.ids:
        if len(query.ids) > MAX_IDS:
            raise InvalidArgument(f"ids must name at most {MAX_IDS} executions")
        # Malformed ids name nothing the caller can see: left out, like other users' ids.
        ids = [i for i in (parse_id(v) for v in query.ids) if i is not None]
    return ExecutionFilter(
        status=status,
        script_type=script_type,
        task_id=task_id,
        created_after=query.created_after,
        created_before=query.created_before,
        ids=ids,
    )
