"""The execution rules (ExecutionService) over small fakes: start, cancel, and how reports of a
run (started, result, the output of a cancelled run) move an execution. The real queries are
covered by the integration tests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from voidrunner.contracts.runtimes import load_catalog
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks.errors import (
    AccessDenied,
    AlreadyRunning,
    ExecutionNotFound,
    InvalidTransition,
    TaskNotFound,
)
from voidrunner.tasks.executions import ExecutionService, ExecutionUpdate
from voidrunner.tasks.inputs import DEFAULT_CAPS
from voidrunner.tasks.policy import RuntimePolicy
from voidrunner.tasks.repository import ExecutionRecord, NewExecution, TaskRecord
from voidrunner.tasks.service import Caller

# -- small hand-written fakes: only what ExecutionService calls, with the same meaning -------

NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


class FakeConn:
    """A connection whose transaction() is a no-op context."""

    @asynccontextmanager
    async def transaction(self, **_options: Any) -> AsyncIterator[None]:
        yield


class FakePool:
    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConn]:
        yield FakeConn()


def task(user_id: uuid.UUID, **changes: Any) -> TaskRecord:
    """A task record of `user_id` with sensible defaults."""
    base = TaskRecord(
        id=uuid.uuid4(),
        user_id=user_id,
        name="t",
        description=None,
        script_content="print(1)",
        script_type="python",
        status="pending",
        priority=5,
        timeout_seconds=300,
        metadata={},
        stdin=None,
        env={},
        memory_limit_mb=256,
        cpu_limit=1.0,
        max_output_bytes=1 << 20,
        version="3.11",
        inputs=jobs_pb2.RunInputs(),
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **changes)


@dataclass
class FakeRepository:
    """Tasks and executions in dicts, with the repository's semantics."""

    tasks: dict[uuid.UUID, TaskRecord] = field(default_factory=dict)
    executions: dict[uuid.UUID, ExecutionRecord] = field(default_factory=dict)
    # (task id, lower-cased email) → role; the fake also stands for the ShareRepository.
    shares: dict[tuple[uuid.UUID, str], str] = field(default_factory=dict)

    async def visible_task(
        self, _conn: Any, task_id: uuid.UUID, user_id: uuid.UUID, email: str, *, lock: bool = False
    ) -> Any:
        found = self.tasks.get(task_id)
        if found is None or found.user_id == user_id:
            return found
        role = self.shares.get((task_id, email.lower()))
        return None if role is None else replace(found, shared_role=role)

    async def visible_execution(
        self, _conn: Any, execution_id: uuid.UUID, user_id: uuid.UUID, email: str
    ) -> Any:
        found = self.executions.get(execution_id)
        if found is None or found.user_id == user_id:
            return found
        role = None if found.task_id is None else self.shares.get((found.task_id, email.lower()))
        return None if role is None else replace(found, shared_role=role)

    async def lock_task(self, _conn: Any, task_id: uuid.UUID, user_id: uuid.UUID | None) -> Any:
        found = self.tasks.get(task_id)
        return found if found is not None and user_id in (None, found.user_id) else None

    async def get_task(self, conn: Any, task_id: uuid.UUID, user_id: uuid.UUID) -> Any:
        return await self.lock_task(conn, task_id, user_id)

    async def task_any_owner(self, conn: Any, task_id: uuid.UUID) -> Any:
        return await self.lock_task(conn, task_id, None)

    async def lock_task_of_execution(self, _conn: Any, execution_id: uuid.UUID) -> bool:
        return execution_id in self.executions

    async def set_task_status(self, _conn: Any, task_id: uuid.UUID, status: str) -> None:
        self.tasks[task_id] = replace(self.tasks[task_id], status=status)

    async def execution_by_key(
        self, _conn: Any, task_id: uuid.UUID, key: str, started_by: uuid.UUID
    ) -> Any:
        for e in self.executions.values():
            if e.task_id == task_id and e.idempotency_key == key and e.started_by == started_by:
                return e
        return None

    async def insert_execution(self, _conn: Any, new: NewExecution) -> Any:
        active = [
            e
            for e in self.executions.values()
            if new.task_id is not None
            and e.task_id == new.task_id
            and e.status in ("pending", "running")
        ]
        if active:
            return None
        record = ExecutionRecord(
            id=new.id,
            task_id=new.task_id,
            user_id=new.user_id,
            status="pending",
            attempt=1,
            return_code=None,
            stdout=None,
            stderr=None,
            stdout_truncated=False,
            stderr_truncated=False,
            termination_reason=None,
            termination_detail=None,
            execution_time_ms=None,
            memory_usage_bytes=None,
            cpu_time_ms=None,
            exit_signal=None,
            compile_output=None,
            compile_time_ms=None,
            output_spans=None,
            deadline_at=None,
            output_pending=False,
            script_type=new.script_type,
            version=new.version,
            limits=new.limits,
            inputs=new.inputs,
            verdict=None,
            passed=0,
            total=0,
            cases=None,
            idempotency_key=new.idempotency_key,
            started_at=None,
            completed_at=None,
            created_at=NOW,
            started_by=new.started_by or new.user_id,
        )
        self.executions[new.id] = record
        return record

    async def get_execution(
        self, _conn: Any, execution_id: uuid.UUID, user_id: uuid.UUID | None
    ) -> Any:
        found = self.executions.get(execution_id)
        return found if found is not None and user_id in (None, found.user_id) else None

    async def lock_execution(self, conn: Any, execution_id: uuid.UUID) -> Any:
        return await self.get_execution(conn, execution_id, None)

    async def update_execution(
        self, _conn: Any, e: ExecutionRecord, task_status: str | None = None
    ) -> ExecutionRecord:
        self.executions[e.id] = e
        if task_status is not None and e.task_id is not None:
            self.tasks[e.task_id] = replace(self.tasks[e.task_id], status=task_status)
        return e


@dataclass
class FakeOutbox:
    jobs: dict[uuid.UUID, jobs_pb2.Job] = field(default_factory=dict)

    async def add(self, _conn: Any, execution_id: uuid.UUID, job: jobs_pb2.Job) -> None:
        self.jobs[execution_id] = job

    async def discard(self, _conn: Any, execution_id: uuid.UUID) -> int:
        return 1 if self.jobs.pop(execution_id, None) is not None else 0


@dataclass
class FakeNotifier:
    cancels: list[tuple[uuid.UUID, bool]] = field(default_factory=list)
    finals: list[uuid.UUID] = field(default_factory=list)

    async def cancelled(self, execution_id: uuid.UUID, *, started: bool) -> None:
        self.cancels.append((execution_id, started))

    async def final(self, execution_id: uuid.UUID) -> None:
        self.finals.append(execution_id)


# -- the rules ------------------------------------------------------------------------------


OWNER = Caller(user_id=uuid.uuid4())
STRANGER = Caller(user_id=uuid.uuid4())
PIPELINE = Caller(user_id=uuid.UUID(int=0), role="service")


def service() -> tuple[ExecutionService, FakeRepository, FakeOutbox, FakeNotifier]:
    repo, outbox, notifier = FakeRepository(), FakeOutbox(), FakeNotifier()
    executions = ExecutionService(
        FakePool(),  # type: ignore[arg-type]
        repo,  # type: ignore[arg-type]
        outbox,  # type: ignore[arg-type]
        notifier,
        RuntimePolicy(load_catalog(), DEFAULT_CAPS),
        repo,  # type: ignore[arg-type]
        clock=lambda: NOW,
    )
    return executions, repo, outbox, notifier


async def started(**task_fields: Any) -> tuple[ExecutionService, FakeRepository, Any, Any, str]:
    executions, repo, outbox, notifier = service()
    t = task(OWNER.user_id, **task_fields)
    repo.tasks[t.id] = t
    execution, replayed = await executions.start(OWNER, str(t.id), None)
    assert not replayed
    return executions, repo, outbox, notifier, str(execution.id)


def result(**fields: Any) -> ExecutionUpdate:
    base: dict[str, Any] = {
        "status": "completed",
        "return_code": 0,
        "stdout": b"out",
        "stderr": b"",
        "termination_reason": "exit",
        "attempt": 1,
        "from_run": True,
    }
    return ExecutionUpdate(**{**base, **fields})


async def test_start_queues_one_job_and_refuses_a_second_active_run() -> None:
    executions, repo, outbox, _, eid = await started()
    job = outbox.jobs[uuid.UUID(eid)]
    assert (job.execution_id, job.attempt, job.runtime) == (eid, 1, "python")
    task_id = str(next(iter(repo.tasks)))
    assert repo.tasks[uuid.UUID(task_id)].status == "running"
    with pytest.raises(AlreadyRunning):
        await executions.start(OWNER, task_id, None)
    with pytest.raises(TaskNotFound):  # another user's task does not exist for them
        await executions.start(STRANGER, task_id, None)


async def test_an_idempotent_start_replays_the_first_execution() -> None:
    executions, repo, _, _ = service()
    t = task(OWNER.user_id)
    repo.tasks[t.id] = t
    first, _ = await executions.start(OWNER, str(t.id), "key-1")
    again, replayed = await executions.start(OWNER, str(t.id), "key-1")
    assert (again.id, replayed) == (first.id, True)


async def test_cancelling_a_pending_run_discards_its_job() -> None:
    executions, _, outbox, notifier, eid = await started()
    cancelled = await executions.cancel(OWNER, eid)
    assert (cancelled.status, cancelled.termination_reason) == ("cancelled", "cancelled")
    assert cancelled.output_pending is False  # it never ran: nothing to wait for
    assert uuid.UUID(eid) not in outbox.jobs
    assert notifier.cancels == []  # nothing reached an executor
    assert notifier.finals == [uuid.UUID(eid)]


async def test_a_cancelled_running_execution_takes_its_runs_output_later() -> None:
    executions, _, _, notifier, eid = await started()
    await executions.update(PIPELINE, eid, ExecutionUpdate(status="running", attempt=1))
    cancelled = await executions.cancel(OWNER, eid)
    assert cancelled.output_pending is True
    assert notifier.cancels == [(uuid.UUID(eid), True)]
    # The executor's report of the stopped run: output kept, status and reason stay.
    report = result(
        status="cancelled",
        return_code=None,
        termination_reason="cancelled",
        stdout=b"line 0\n",
        execution_time_ms=250,
        output_spans=[7],
    )
    filled = await executions.update(PIPELINE, eid, report)
    assert (filled.status, filled.termination_reason) == ("cancelled", "cancelled")
    assert (filled.stdout, filled.execution_time_ms, filled.output_spans) == (b"line 0\n", 250, [7])
    assert filled.output_pending is False
    # Once filled, a further report is a duplicate like any other.
    with pytest.raises(InvalidTransition):
        await executions.update(PIPELINE, eid, report)


async def test_a_final_state_never_changes() -> None:
    executions, _, _, notifier, eid = await started()
    await executions.update(PIPELINE, eid, ExecutionUpdate(status="running", attempt=1))
    done = await executions.update(PIPELINE, eid, result())
    assert (done.status, done.stdout, done.completed_at) == ("completed", b"out", NOW)
    with pytest.raises(InvalidTransition):
        await executions.update(PIPELINE, eid, result(status="failed", return_code=1))
    assert notifier.finals == [uuid.UUID(eid)]


async def test_a_claim_sets_the_deadline_the_reaper_uses() -> None:
    executions, _, _, _, eid = await started()
    deadline = NOW + dt.timedelta(seconds=75)
    claimed = await executions.update(
        PIPELINE,
        eid,
        ExecutionUpdate(status="running", attempt=2, started_at=NOW, deadline_at=deadline),
    )
    assert (claimed.status, claimed.attempt, claimed.deadline_at) == ("running", 2, deadline)


async def test_only_privileged_callers_report_and_unknown_ids_are_not_found() -> None:
    executions, _, _, _, eid = await started()
    with pytest.raises(AccessDenied):
        await executions.update(OWNER, eid, result())
    with pytest.raises(ExecutionNotFound):
        await executions.update(PIPELINE, str(uuid.uuid4()), result())
    with pytest.raises(ExecutionNotFound):
        await executions.get(STRANGER, eid)


VIEWER = Caller(user_id=uuid.uuid4(), email="Viewer@Example.com")
RUNNER = Caller(user_id=uuid.uuid4(), email="runner@example.com")


async def shared_task() -> tuple[ExecutionService, FakeRepository, FakeOutbox, str]:
    executions, repo, outbox, _ = service()
    t = task(OWNER.user_id)
    repo.tasks[t.id] = t
    repo.shares[t.id, "viewer@example.com"] = "viewer"
    repo.shares[t.id, "runner@example.com"] = "runner"
    return executions, repo, outbox, str(t.id)


async def test_a_runners_start_is_theirs_and_charged_to_them() -> None:
    executions, _, outbox, task_id = await shared_task()
    execution, _ = await executions.start(RUNNER, task_id, None)
    # The execution belongs with the task (its owner's lists), started by and charged to the
    # runner: the scheduler's per-user slot is the job's user.
    assert (execution.user_id, execution.started_by) == (OWNER.user_id, RUNNER.user_id)
    assert outbox.jobs[execution.id].user_id == str(RUNNER.user_id)
    seen = await executions.get(VIEWER, str(execution.id))
    assert seen.id == execution.id


async def test_a_viewer_may_neither_start_nor_cancel_and_strangers_see_nothing() -> None:
    executions, _, _, task_id = await shared_task()
    with pytest.raises(AccessDenied):  # they see the task, so not a 404
        await executions.start(VIEWER, task_id, None)
    execution, _ = await executions.start(OWNER, task_id, None)
    with pytest.raises(AccessDenied):
        await executions.cancel(VIEWER, str(execution.id))
    with pytest.raises(TaskNotFound):
        await executions.start(STRANGER, task_id, None)
    with pytest.raises(ExecutionNotFound):
        await executions.cancel(STRANGER, str(execution.id))
    cancelled = await executions.cancel(RUNNER, str(execution.id))
    assert cancelled.status == "cancelled"


async def test_idempotency_keys_are_each_starters_own() -> None:
    executions, _, _, task_id = await shared_task()
    mine, _ = await executions.start(OWNER, task_id, "key")
    await executions.cancel(OWNER, str(mine.id))
    theirs, replayed = await executions.start(RUNNER, task_id, "key")
    assert (replayed, theirs.started_by) == (False, RUNNER.user_id)
    assert theirs.id != mine.id
