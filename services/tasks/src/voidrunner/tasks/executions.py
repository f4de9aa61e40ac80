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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from voidrunner.common.db import Conn
from voidrunner.common.logs import get_logger
from voidrunner.contracts.runtimes import RuntimeSpec, UnknownRuntime
from voidrunner.contracts.shares import ShareRole
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks import metrics
from voidrunner.tasks.attempt_claims import claim_after
from voidrunner.tasks.definition import RunDefinition, define, job_limits
from voidrunner.tasks.errors import (
    AccessDenied,
    AlreadyRunning,
    ExecutionNotFound,
    FieldErrors,
    TaskNotFound,
    Violation,
)
from voidrunner.tasks.notifier import Notifier
from voidrunner.tasks.outbox import Outbox
from voidrunner.tasks.policy import RuntimePolicy
from voidrunner.tasks.repository import (
    ExecutionRecord,
    NewExecution,
    TaskRecord,
    TaskRepository,
)
from voidrunner.tasks.service import Caller, parse_id
from voidrunner.tasks.shares import ShareRepository
from voidrunner.tasks.state import (
    DEFAULT_REASON,
    FINAL,
    Status,
    TerminationReason,
    check_cancel,
    check_transition,
    task_status_after,
)
from voidrunner.tasks.validation import TaskPatch

if TYPE_CHECKING:
    from voidrunner.tasks.webhooks.callbacks import Callbacks
    from voidrunner.tasks.webhooks.events import WebhookEvents

_log = get_logger("voidrunner.tasks.executions")
MAX_IDEMPOTENCY_KEY = 255
MIB = 1024 * 1024
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class ExecutionUpdate:
    """A privileged progress report; None means "unchanged"."""

    status: str | None = None
    return_code: int | None = None
    stdout: bytes | None = None
    stderr: bytes | None = None
    execution_time_ms: int | None = None
    memory_usage_bytes: int | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None
    termination_reason: str | None = None
    termination_detail: str | None = None
    # Set by the pipeline's events: which delivery ran it, and when it really started.
    attempt: int | None = None
    started_at: dt.datetime | None = None
    cpu_time_ms: int | None = None
    exit_signal: str | None = None
    compile_output: bytes | None = None
    compile_time_ms: int | None = None
    output_spans: list[int] | None = None
    # From an executor's claim: when the attempt is overdue (before the reaper's grace).
    deadline_at: dt.datetime | None = None
    # With test cases: the verdict, the counts and every case's record.
    verdict: str | None = None
    passed: int | None = None
    total: int | None = None
    cases: jobs_pb2.CaseRecord | None = None
    # An executor's report of how a run ended (its output may complete a cancelled execution).
    from_run: bool = False
    # An executor's report: the hash of the claim it carries (attempt_claims says when it may).
    claim: bytes | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def task_inputs(task: TaskRecord) -> jobs_pb2.RunInputs:
    """Everything a task gives its run: its script or files, stdin, env, arguments, cases."""
    inputs = jobs_pb2.RunInputs()
    inputs.CopyFrom(task.inputs)
    inputs.source = task.script_content or ""
    inputs.stdin = task.stdin or b""
    inputs.env.update(task.env)
    return inputs


def definition_inputs(run: RunDefinition) -> jobs_pb2.RunInputs:
    """Everything a one-shot run gives its execution (stored with it: what ran)."""
    inputs = jobs_pb2.RunInputs()
    inputs.CopyFrom(run.inputs)
    inputs.source = run.script_content or ""
    inputs.stdin = run.stdin or b""
    inputs.env.update(run.env)
    return inputs


def build_job(
    execution: ExecutionRecord,
    runtime: str,
    inputs: jobs_pb2.RunInputs,
    priority: int,
    now: dt.datetime,
) -> jobs_pb2.Job:
    """The job the scheduler publishes: what runs, as it was when the run started."""
    enqueued = Timestamp()
    enqueued.FromDatetime(now)
    limits = execution.limits or {}
    job_limit, _ = job_limits(
        limits.get("timeout_seconds", 0),
        limits.get("memory_limit_mb", 0),
        limits.get("cpu_limit", 0.0),
        limits.get("max_output_bytes", 0),
    )
    return jobs_pb2.Job(
        execution_id=str(execution.id),
        task_id=str(execution.task_id) if execution.task_id else "",
        # Whose slot the run takes: who started it (a runner of a shared task, not its owner).
        user_id=str(execution.started_by or execution.user_id),
        runtime=runtime,
        limits=job_limit,
        priority=priority,
        attempt=execution.attempt,
        enqueued_at=enqueued,
        inline_inputs=inputs,
    )


class ExecutionService:
    """Owns executions and the outbox rows that hand them to the scheduler."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: TaskRepository,
        outbox: Outbox,
        notifier: Notifier,
        policy: RuntimePolicy,
        shares: ShareRepository,
        clock: Callable[[], dt.datetime] = _now,
        on_queued: Callable[[], None] | None = None,
        events: WebhookEvents | None = None,
        callbacks: Callbacks | None = None,
    ) -> None:
        """`on_queued` is called after a start committed its outbox job (the local relay);
        `events` queues webhook deliveries in the transaction of every status change."""
        self._events = events
        self._callbacks = callbacks
        self._pool = pool
        self._repo = repo
        self._shares = shares
        self._outbox = outbox
        self._notifier = notifier
        self._policy = policy
        self._clock = clock
        self._on_queued = on_queued

    def _runtime(self, script_type: str, version: str) -> RuntimeSpec:
        """The runtime an execution runs on now (the catalogue may have changed since)."""
        try:
            return self._policy.runtime(script_type, version or None)
        except UnknownRuntime as exc:
            raise FieldErrors(
                [Violation("script_type", "oneof", f"no longer offered: {exc}", script_type)]
            ) from None

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
            task = await self._shares.visible_task(
                conn, tid, caller.user_id, caller.email, lock=True
            )
            if task is None:
                raise TaskNotFound
            if not _may_run(task.shared_role):
                raise AccessDenied
            if key is not None:
                earlier = await self._repo.execution_by_key(conn, tid, key, caller.user_id)
                if earlier is not None:
                    return earlier, True
            if task.status == Status.RUNNING:
                raise AlreadyRunning
            spec = self._runtime(task.script_type, task.version)
            _, limits = job_limits(
                task.timeout_seconds, task.memory_limit_mb, task.cpu_limit, task.max_output_bytes
            )
            new = NewExecution(
                id=uuid.uuid4(),
                task_id=task.id,
                user_id=task.user_id,
                script_type=task.script_type,
                version=spec.version,
                limits=limits,
                idempotency_key=key,
                started_by=caller.user_id,
            )
            execution = await self._repo.insert_execution(conn, new)
            if execution is None:  # the partial unique index caught what the status did not
                raise AlreadyRunning
            await self._repo.set_task_status(conn, tid, Status.RUNNING.value)
            job = build_job(execution, spec.name, task_inputs(task), task.priority, self._clock())
            await self._outbox.add(conn, execution.id, job)
        metrics.accepted([execution])
        if self._on_queued is not None:
            self._on_queued()
        _log.info(
            "execution started",
            task_id=str(tid),
            execution_id=str(execution.id),
            started_by=str(caller.user_id),
        )
        return execution, False

    async def run(
        self, caller: Caller, runs: Sequence[TaskPatch]
    ) -> tuple[builtins.list[ExecutionRecord], str | None]:
        """One-shot runs: each a pending execution without a task, queued like a task's.

        Every run is checked first; one bad run starts none (its fields are named
        `runs.<index>.<field>`). Returns the executions, and the caller's signing secret when
        a run's callback_url created it.
        """
        if not 1 <= len(runs) <= self._policy.max_batch:
            raise FieldErrors(
                [Violation("runs", "max", f"runs must hold 1 to {self._policy.max_batch} runs")]
            )
        found: builtins.list[Violation] = []
        definitions: builtins.list[RunDefinition] = []
        for index, patch in enumerate(runs):
            try:
                definitions.append(define(patch, self._policy))
                if self._callbacks is not None:
                    await self._callbacks.vet(patch)
            except FieldErrors as exc:
                found += [replace(v, field=f"runs.{index}.{v.field}") for v in exc.violations]
        if found:
            raise FieldErrors(found)
        now = self._clock()
        created: builtins.list[ExecutionRecord] = []
        secret = None
        async with self._pool.acquire() as conn, conn.transaction():
            if self._callbacks is not None and any(p.callback_url for p in runs):
                secret = await self._callbacks.secret_for(conn, caller.user_id)
            for run, patch in zip(definitions, runs, strict=True):
                _, limits = job_limits(
                    run.timeout_seconds, run.memory_limit_mb, run.cpu_limit, run.max_output_bytes
                )
                inputs = definition_inputs(run)
                new = NewExecution(
                    id=uuid.uuid4(),
                    task_id=None,
                    user_id=caller.user_id,
                    script_type=run.script_type,
                    version=run.version,
                    limits=limits,
                    inputs=inputs,
                    callback_url=patch.callback_url,
                )
                execution = await self._repo.insert_execution(conn, new)
                assert execution is not None  # without a task, nothing can conflict
                priority = 5 if patch.priority is None else patch.priority
                job = build_job(execution, run.spec.name, inputs, priority, now)
                await self._outbox.add(conn, execution.id, job)
                created.append(execution)
        metrics.accepted(created)
        if self._on_queued is not None:
            self._on_queued()
        _log.info("runs started", count=len(created))
        return created, secret

    async def get(self, caller: Caller, execution_id: str) -> ExecutionRecord:
        """The caller's execution or one of a task shared with them, or ExecutionNotFound."""
        eid = parse_id(execution_id)
        if eid is None:
            raise ExecutionNotFound
        async with self._pool.acquire() as conn:
            found = await self._shares.visible_execution(conn, eid, caller.user_id, caller.email)
        if found is None:
            raise ExecutionNotFound
        return found

    async def cancel(self, caller: Caller, execution_id: str) -> ExecutionRecord:
        """Cancel a pending (directly) or running execution; final ones are a 409."""
        eid = parse_id(execution_id)
        if eid is None:
            raise ExecutionNotFound
        async with self._pool.acquire() as conn, conn.transaction():
            found = await self._shares.visible_execution(conn, eid, caller.user_id, caller.email)
            if found is None:
                raise ExecutionNotFound
            if not _may_run(found.shared_role):
                raise AccessDenied
            if found.task_id is not None:
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
                    # Its executor still reports what the run printed until the cancel landed.
                    output_pending=status is Status.RUNNING,
                ),
                task_status=Status.CANCELLED.value,
            )
            # A pending run whose job is still in the outbox never reaches an executor.
            discarded = status is Status.PENDING and await self._outbox.discard(conn, eid) > 0
            hooked = await self._hook(conn, cancelled)
        if hooked:
            self._hooked()
        metrics.moved(status, cancelled)
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
                if execution is None:
                    continue
                job = await self._job_again(conn, execution, now)
                if job is not None:
                    found.append((execution, job))
        return found

    async def _job_again(
        self, conn: Conn, execution: ExecutionRecord, now: dt.datetime
    ) -> jobs_pb2.Job | None:
        """The job of an execution to queue again: its task's, or a one-shot run's own."""
        priority = 5
        inputs = execution.inputs
        if execution.task_id is not None:
            task = await self._repo.task_any_owner(conn, execution.task_id)
            if task is None:
                return None
            inputs, priority = task_inputs(task), task.priority
        if inputs is None:
            return None
        try:
            spec = self._policy.runtime(execution.script_type, execution.version or None)
        except UnknownRuntime:
            return None  # the reaper ends it once it is overdue for good
        return build_job(execution, spec.name, inputs, priority, now)

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
            if change.claim is not None:
                claim = claim_after(
                    current.claim_hash, current.attempt, change.claim, change.attempt or 0
                )
                current = current.with_changes(claim_hash=claim)
            status = Status(current.status)
            if status is Status.CANCELLED and current.output_pending and change.from_run:
                # The run was cancelled while it ran; this is its executor's report of what it
                # printed until then. The status stays: a final state never changes.
                return await self._repo.update_execution(conn, _late_output(current, change))
            new_status = target or status
            if status in FINAL or new_status != status:
                check_transition(status, new_status)
            updated = await self._repo.update_execution(
                conn,
                self._apply(current, new_status, change),
                task_status=task_status_after(new_status).value if new_status != status else None,
            )
            hooked = new_status != status and await self._hook(conn, updated)
        if hooked:
            self._hooked()
        metrics.moved(status, updated)
        if new_status is Status.CANCELLED:
            await self._notifier.cancelled(eid, started=status is Status.RUNNING)
        if new_status != status and new_status in FINAL:
            await self._notifier.final(eid)
        return updated

    async def _hook(self, conn: Conn, execution: ExecutionRecord) -> bool:
        """Queue the webhook deliveries of `execution`'s new status (in its transaction)."""
        return self._events is not None and await self._events.changed(conn, execution)

    def _hooked(self) -> None:
        if self._events is not None:
            self._events.committed()

    def _apply(self, e: ExecutionRecord, status: Status, c: ExecutionUpdate) -> ExecutionRecord:
        now = self._clock()
        reason = c.termination_reason or e.termination_reason
        if status in FINAL and reason is None:
            reason = DEFAULT_REASON[status].value
        return _with_report(e, c).with_changes(
            status=status.value,
            termination_reason=reason,
            attempt=_keep(c.attempt, e.attempt),
            started_at=e.started_at or c.started_at or (now if status is Status.RUNNING else None),
            completed_at=now if status in FINAL else e.completed_at,
            deadline_at=_keep(c.deadline_at, e.deadline_at),
            # An admin cancelling a running execution leaves its executor's report to come.
            output_pending=status is Status.CANCELLED and e.status == Status.RUNNING.value,
        )


def _with_report(e: ExecutionRecord, c: ExecutionUpdate) -> ExecutionRecord:
    """`e` with the result fields a report carries (those it leaves out stay)."""
    return e.with_changes(
        return_code=_keep(c.return_code, e.return_code),
        stdout=_keep(c.stdout, e.stdout),
        stderr=_keep(c.stderr, e.stderr),
        stdout_truncated=_keep(c.stdout_truncated, e.stdout_truncated),
        stderr_truncated=_keep(c.stderr_truncated, e.stderr_truncated),
        termination_detail=_keep(c.termination_detail, e.termination_detail),
        execution_time_ms=_keep(c.execution_time_ms, e.execution_time_ms),
        memory_usage_bytes=_keep(c.memory_usage_bytes, e.memory_usage_bytes),
        cpu_time_ms=_keep(c.cpu_time_ms, e.cpu_time_ms),
        exit_signal=_keep(c.exit_signal, e.exit_signal),
        compile_output=_keep(c.compile_output, e.compile_output),
        compile_time_ms=_keep(c.compile_time_ms, e.compile_time_ms),
        output_spans=_keep(c.output_spans, e.output_spans),
        verdict=_keep(c.verdict, e.verdict),
        passed=_keep(c.passed, e.passed),
        total=_keep(c.total, e.total),
        cases=_keep(c.cases, e.cases),
    )


def _late_output(e: ExecutionRecord, c: ExecutionUpdate) -> ExecutionRecord:
    """A cancelled execution completed with what its run printed before the cancel landed."""
    return _with_report(e, c).with_changes(
        attempt=_keep(c.attempt, e.attempt),
        output_pending=False,
        termination_detail=e.termination_detail or c.termination_detail,
    )


def _may_run(shared_role: str | None) -> bool:
    """Owners (no shared role) and runners start and cancel; viewers only look."""
    return shared_role is None or ShareRole(shared_role).may_run


def _keep(value: V | None, current: V) -> V:
    return current if value is None else value


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
