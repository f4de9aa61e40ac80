"""Task rules: create, read, update, delete and list, always on behalf of one caller.

Ownership is enforced here, in every query: another user's task is "not found", never
"forbidden", so ids cannot be probed. A task with an active execution can be neither edited nor
deleted; its row lock serialises those checks against a concurrent start.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Generic, TypeVar

import asyncpg

from voidrunner.common.errors import InvalidArgument
from voidrunner.common.text import is_storable_text as clean_text
from voidrunner.contracts.roles import PRIVILEGED_ROLES
from voidrunner.contracts.runtimes import RuntimeSpec, UnknownRuntime
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks import cursor as cursors
from voidrunner.tasks.cursor import Cursor, SortField, SortOrder
from voidrunner.tasks.definition import define
from voidrunner.tasks.errors import (
    FieldErrors,
    InvalidCursor,
    TaskNotFound,
    TaskRunning,
    Violation,
)
from voidrunner.tasks.policy import RuntimePolicy
from voidrunner.tasks.repository import TaskFilter, TaskRecord, TaskRepository
from voidrunner.tasks.shares import ShareRepository, redacted, refuse
from voidrunner.tasks.state import Status
from voidrunner.tasks.validation import Limits, TaskPatch, check_patch, parse_metadata

if TYPE_CHECKING:
    from voidrunner.common.db import Conn
    from voidrunner.tasks.webhooks.callbacks import Callbacks

TASKS_CURSOR = "tasks"
# A page of the tasks shared with the caller continues only that list.
SHARED_TASKS_CURSOR = "shared_tasks"
SHARED_WITH_ME = "with_me"
MAX_LIMIT = 100
MAX_QUERY = 255
T = TypeVar("T")
N = TypeVar("N", int, float)
# Placeholder timestamps on a record about to be inserted; the database sets the real ones.
_NO_TIME = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, as the gateway authenticated them."""

    user_id: uuid.UUID
    role: str = "user"
    # The email of the caller's token: tasks shared with it are visible to them.
    email: str = ""

    @property
    def privileged(self) -> bool:
        """Service and admin callers may report execution progress."""
        return self.role in PRIVILEGED_ROLES


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A list request as received; every field is validated by `TaskService.list_tasks`."""

    limit: int = 20
    offset: int | None = None
    cursor: str | None = None
    sort_field: str = ""
    sort_order: str = ""
    status: str | None = None
    script_type: str | None = None
    q: str | None = None
    metadata: str | None = None
    # "with_me": the tasks shared with the caller instead of their own.
    shared: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; `total` and `offset` only in offset mode."""

    items: list[T]
    limit: int
    has_more: bool
    next_cursor: str | None
    total: int | None = None
    offset: int | None = None


def parse_id(value: str) -> uuid.UUID | None:
    """A UUID, or None for anything malformed (the gateway already answered 400 for those)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def check_limit(limit: int) -> None:
    """The contract's text for a page size outside 1..100."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument("limit must be between 1 and 100")


def check_offset(offset: int | None, cursor: str | None) -> None:
    """Offsets are non-negative and exclusive with cursors."""
    if offset is not None and offset < 0:
        raise InvalidArgument("offset must be greater than or equal to 0")
    if offset is not None and cursor:
        raise InvalidArgument("offset and cursor cannot be used together")


def escape_like(text: str) -> str:
    """`text` as a literal inside an ILIKE pattern (backslash is the default escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class TaskService:
    """Owns tasks."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: TaskRepository,
        policy: RuntimePolicy,
        shares: ShareRepository,
        callbacks: Callbacks | None = None,
    ) -> None:
        self._pool = pool
        self._repo = repo
        self._shares = shares
        self._limits = policy.limits
        self._policy = policy
        self._callbacks = callbacks

    async def _with_callbacks(self, conn: Conn, tasks: list[TaskRecord]) -> list[TaskRecord]:
        if self._callbacks is None or not tasks:
            return tasks
        return await self._callbacks.attach(conn, tasks)

    async def create_task(self, caller: Caller, patch: TaskPatch) -> TaskRecord:
        """A new pending task of the caller, with defaults for what the patch leaves out."""
        run = define(patch, self._policy, required=("name",))
        assert patch.name is not None
        if self._callbacks is not None:
            await self._callbacks.vet(patch)
        task = TaskRecord(
            id=uuid.uuid4(),
            user_id=caller.user_id,
            name=patch.name,
            description=patch.description,
            script_content=run.script_content,
            script_type=run.script_type,
            status=Status.PENDING.value,
            priority=5 if patch.priority is None else patch.priority,
            timeout_seconds=run.timeout_seconds,
            metadata={} if patch.metadata is None else patch.metadata,
            stdin=run.stdin,
            env=run.env,
            memory_limit_mb=run.memory_limit_mb,
            cpu_limit=run.cpu_limit,
            max_output_bytes=run.max_output_bytes,
            version=run.version,
            inputs=run.inputs,
            created_at=_NO_TIME,
            updated_at=_NO_TIME,
        )
        async with self._pool.acquire() as conn, conn.transaction():
            created = await self._repo.insert_task(conn, task)
            # A new task has no callback URL to look up unless this request gives one.
            if self._callbacks is not None and patch.callback_url is not None:
                created = await self._callbacks.saved(conn, created, patch)
            return created

    async def get_task(self, caller: Caller, task_id: str) -> TaskRecord:
        """The caller's task or one shared with them (redacted), or TaskNotFound."""
        tid = parse_id(task_id)
        if tid is None:
            raise TaskNotFound
        async with self._pool.acquire() as conn:
            task = await self._shares.visible_task(conn, tid, caller.user_id, caller.email)
            if task is None:
                raise TaskNotFound
            if task.shared_role is not None:
                return redacted(task)  # the callback URL is the owner's alone too
            if self._callbacks is None:  # webhooks are off here: no callback URL to show
                return replace(task, callback_url=None)
            return task  # visible_task read its callback URL

    async def _refuse(self, conn: Conn, caller: Caller, tid: uuid.UUID) -> Exception:
        """Why the caller may not change a task that is not theirs: 403 when it is shared with
        them (they see it), else 404."""
        return refuse(await self._shares.visible_task(conn, tid, caller.user_id, caller.email))

    async def update_task(self, caller: Caller, task_id: str, patch: TaskPatch) -> TaskRecord:
        """Apply the given fields; `{}` changes nothing (not even updated_at)."""
        check_patch(patch, self._limits)
        if self._callbacks is not None:
            await self._callbacks.vet(patch)
        tid = parse_id(task_id)
        if tid is None:
            raise TaskNotFound
        async with self._pool.acquire() as conn, conn.transaction():
            task = await self._repo.lock_task(conn, tid, caller.user_id)
            if task is None:
                raise await self._refuse(conn, caller, tid)
            if task.status == Status.RUNNING:
                raise TaskRunning("Cannot update running task")
            merged = _merge(task, patch, self._policy)
            if merged != task:
                task = await self._repo.update_task(conn, merged)
            if self._callbacks is not None:
                task = await self._callbacks.saved(conn, task, patch)
            return task

    async def delete_task(self, caller: Caller, task_id: str) -> None:
        """Delete the task with its executions; refused while it runs."""
        tid = parse_id(task_id)
        if tid is None:
            raise TaskNotFound
        async with self._pool.acquire() as conn, conn.transaction():
            task = await self._repo.lock_task(conn, tid, caller.user_id)
            if task is None:
                raise await self._refuse(conn, caller, tid)
            if task.status == Status.RUNNING:
                raise TaskRunning("Cannot delete running task")
            await self._repo.delete_task(conn, tid)

    async def list_tasks(self, caller: Caller, query: ListQuery) -> Page[TaskRecord]:
        """A page by offset (with total) or by keyset cursor; both hand out next_cursor."""
        check_limit(query.limit)
        check_offset(query.offset, query.cursor)
        filters = _filters(query, self._limits)
        shared = _shared(query.shared)
        kind = SHARED_TASKS_CURSOR if shared else TASKS_CURSOR
        sort, after = _sort_and_position(query, kind)
        offset = query.offset or 0
        # One snapshot for the page and its total, so they agree.
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            position = None if after is None else (after.value, after.id)
            skip = 0 if after is not None else offset
            if shared:
                rows = await self._shares.list_shared_tasks(
                    conn, caller.email, filters, sort, position, query.limit + 1, skip
                )
            else:
                rows = await self._repo.list_tasks(
                    conn, caller.user_id, filters, sort, position, query.limit + 1, skip
                )
            total = None
            if after is None and shared:
                total = await self._shares.count_shared_tasks(conn, caller.email, filters)
            elif after is None:
                total = await self._repo.count_tasks(conn, caller.user_id, filters)
            if not shared:  # a callback URL is its owner's alone
                rows = await self._with_callbacks(conn, rows[: query.limit + 1])
        has_more = len(rows) > query.limit
        items = [redacted(t) for t in rows[: query.limit]]
        next_cursor = None
        if has_more:
            last = items[-1]
            next_cursor = cursors.encode(
                Cursor(kind, sort[0], sort[1], last.sort_value(sort[0]), last.id)
            )
        return Page(
            items=items,
            limit=query.limit,
            has_more=has_more,
            next_cursor=next_cursor,
            total=total,
            offset=None if after is not None else offset,
        )


def _or(value: N | None, default: N) -> N:
    return default if value is None else value


def _merge(task: TaskRecord, p: TaskPatch, policy: RuntimePolicy) -> TaskRecord:
    keep = task.description if p.description is None else p.description
    description = None if p.clear_description else keep
    stdin = None if p.clear_stdin else (task.stdin if p.stdin is None else p.stdin)
    inputs = jobs_pb2.RunInputs()
    inputs.CopyFrom(task.inputs)
    script = task.script_content
    if p.script_content is not None:  # back to the one-file form
        script = p.script_content
        del inputs.files[:]
        inputs.entrypoint = ""
    if p.files is not None:
        script = None
        del inputs.files[:]
        inputs.files.extend(p.files)
        inputs.entrypoint = p.entrypoint or ""
    elif p.entrypoint is not None:
        inputs.entrypoint = p.entrypoint
    if p.args is not None:
        del inputs.args[:]
        inputs.args.extend(p.args)
    if p.test_cases is not None:
        del inputs.test_cases[:]
        inputs.test_cases.extend(p.test_cases)
    if p.stop_on_first_failure is not None:
        inputs.stop_on_first_failure = p.stop_on_first_failure
    spec = None
    if p.script_type is not None or p.version is not None:
        spec = _resolved(policy, p.script_type or task.script_type, p.version)
    return replace(
        task,
        name=_or_keep(p.name, task.name),
        description=description,
        script_content=script,
        script_type=spec.language if spec is not None else task.script_type,
        version=spec.version if spec is not None else task.version,
        priority=_or(p.priority, task.priority),
        timeout_seconds=_or(p.timeout_seconds, task.timeout_seconds),
        metadata=task.metadata if p.metadata is None else p.metadata,
        stdin=stdin,
        env=task.env if p.env is None else p.env,
        memory_limit_mb=_or(p.memory_limit_mb, task.memory_limit_mb),
        cpu_limit=_or(p.cpu_limit, task.cpu_limit),
        max_output_bytes=_or(p.max_output_bytes, task.max_output_bytes),
        inputs=inputs,
    )


def _resolved(policy: RuntimePolicy, script_type: str, version: str | None) -> RuntimeSpec:
    try:
        return policy.runtime(script_type, version)
    except UnknownRuntime as exc:
        field = "version" if version else "script_type"
        raise FieldErrors([Violation(field, "oneof", str(exc), version or script_type)]) from None


def _or_keep(value: str | None, current: str) -> str:
    return current if value is None else value


def _filters(query: ListQuery, limits: Limits) -> TaskFilter:
    status = query.status or None
    if status is not None and status not in {s.value for s in Status}:
        allowed = ", ".join(s.value for s in Status)
        raise InvalidArgument(f"status must be one of: {allowed}")
    script_type = query.script_type or None
    if script_type is not None and (len(script_type) > MAX_QUERY or not clean_text(script_type)):
        raise InvalidArgument("script_type filter is invalid")
    pattern = None
    if query.q:
        if not clean_text(query.q):
            raise InvalidArgument("q must not contain NUL or invalid characters")
        if len(query.q) > MAX_QUERY:
            raise InvalidArgument(f"q must be at most {MAX_QUERY} characters")
        pattern = f"%{escape_like(query.q)}%"
    metadata = None
    if query.metadata:
        metadata, problem = parse_metadata(query.metadata, "metadata filter")
        if metadata is None:
            raise InvalidArgument(problem)
        try:
            check_patch(TaskPatch(metadata=metadata), limits)
        except FieldErrors as exc:
            message = exc.violations[0].message.replace("metadata", "metadata filter", 1)
            raise InvalidArgument(message) from None
    return TaskFilter(status=status, script_type=script_type, q_pattern=pattern, metadata=metadata)


def _shared(value: str | None) -> bool:
    """Whether the list is of the tasks shared with the caller."""
    if not value:
        return False
    if value != SHARED_WITH_ME:
        raise FieldErrors(
            [Violation("shared", "oneof", f"shared must be one of: {SHARED_WITH_ME}", value[:64])]
        )
    return True


def _sort_and_position(
    query: ListQuery, kind: str = TASKS_CURSOR
) -> tuple[tuple[SortField, SortOrder], Cursor | None]:
    try:
        field = SortField(query.sort_field) if query.sort_field else None
    except ValueError:
        allowed = ", ".join(f.value for f in SortField)
        raise InvalidArgument(f"sort_field must be one of: {allowed}") from None
    try:
        order = SortOrder(query.sort_order) if query.sort_order else None
    except ValueError:
        raise InvalidArgument("sort_order must be one of: asc, desc") from None
    after = None
    if query.cursor:
        after = cursors.decode(query.cursor, kind)
        # A cursor belongs to the sort it was made for; an explicit, different sort is a misuse.
        if (field is not None and field != after.field) or (
            order is not None and order != after.order
        ):
            raise InvalidCursor
        field, order = after.field, after.order
    return (field or SortField.CREATED_AT, order or SortOrder.DESC), after
