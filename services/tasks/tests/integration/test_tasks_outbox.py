"""The outbox: written with the execution, safe to drain from concurrent relays, and the
cancel/final notices around it — against real PostgreSQL, NATS and the gRPC service."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import nats
import pytest
from nats.aio.msg import Msg

from voidrunner.common.db import Queries, create_pool
from voidrunner.contracts import topology
from voidrunner.devstack.nats import EmbeddedNats
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.proto.tasks.v1 import tasks_pb2
from voidrunner.tasks.outbox import Outbox, OutboxEntry
from voidrunner.tasks.schema import QUERIES_FILE

if TYPE_CHECKING:
    from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceAsyncStub as Stub
CALLER = tasks_pb2.Caller(user_id=str(uuid.uuid4()), role="user")
SERVICE = tasks_pb2.Caller(user_id=str(uuid.uuid4()), role="service")


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    # These tests drain the outbox themselves; the service's own relay would race them.
    return {"outbox_relay_enabled": False}


@pytest.fixture
async def outbox(database_url: str) -> AsyncIterator[Outbox]:
    pool = await create_pool(database_url, max_size=4)
    try:
        yield Outbox(pool, Queries(QUERIES_FILE))
    finally:
        await pool.close()


async def _task(stub: Stub, **fields: Any) -> tasks_pb2.Task:
    base = {"name": "job", "script_content": "print(1)", "script_type": "python"}
    request = tasks_pb2.CreateTaskRequest(
        caller=CALLER, fields=tasks_pb2.TaskFields(**{**base, **fields})
    )
    return await stub.CreateTask(request)


async def _start(stub: Stub, task: tasks_pb2.Task) -> tasks_pb2.Execution:
    resp = await stub.StartExecution(
        tasks_pb2.StartExecutionRequest(caller=CALLER, task_id=task.id)
    )
    return resp.execution


async def test_the_job_is_written_with_the_execution(stub: Stub, outbox: Outbox) -> None:
    task = await _task(
        stub,
        stdin=b"in\x00put",
        priority=9,
        memory_limit_mb=64,
        env={"A": "1"},
        has_env=True,
        cpu_limit=0.5,
    )
    execution = await _start(stub, task)
    async with outbox.claim() as batch:
        assert [e.execution_id for e in batch.entries] == [uuid.UUID(execution.id)]
        job = batch.entries[0].job()
        await batch.mark_published([batch.entries[0].id])
    assert (job.execution_id, job.task_id, job.user_id) == (execution.id, task.id, task.user_id)
    inputs = job.inline_inputs
    assert (job.runtime, inputs.source, inputs.stdin) == ("python", "print(1)", b"in\x00put")
    assert dict(inputs.env) == {"A": "1"}
    assert job.priority == 9
    assert job.attempt == 1
    assert job.limits.memory_bytes == 64 * 1024 * 1024
    assert job.limits.cpu == 0.5
    assert job.limits.timeout_seconds == 300
    assert job.limits.max_output_bytes == 1_048_576
    assert await outbox.pending_count() == 0


async def test_work_is_kept_while_nats_is_down(
    stub: Stub, outbox: Outbox, nats_server: EmbeddedNats
) -> None:
    nats_server.stop()
    execution = await _start(stub, await _task(stub))
    assert execution.status == "pending"
    assert await outbox.pending_count() == 1
    cancelled = await stub.CancelExecution(
        tasks_pb2.CancelExecutionRequest(caller=CALLER, id=execution.id)
    )
    assert cancelled.status == "cancelled"  # notices are best effort; the state is not
    assert await outbox.pending_count() == 0


async def test_concurrent_relays_publish_each_job_once(stub: Stub, outbox: Outbox) -> None:
    expected = set()
    for _ in range(24):
        expected.add((await _start(stub, await _task(stub))).id)
    published: Counter[str] = Counter()

    async def publish(entry: OutboxEntry) -> None:
        await asyncio.sleep(0.002)  # hold the claim so the relays overlap
        published[entry.job().execution_id] += 1

    async def crashing_relay() -> None:
        async with outbox.claim(limit=5) as batch:
            assert batch.entries
            raise RuntimeError  # dies mid-batch: its rows must come back

    with pytest.raises(RuntimeError):
        await crashing_relay()

    async def relay() -> None:
        while await outbox.relay_once(publish, limit=5):
            pass

    await asyncio.gather(relay(), relay())
    assert set(published) == expected
    assert set(published.values()) == {1}
    assert await outbox.pending_count() == 0


async def test_a_failed_publish_is_retried_later(stub: Stub, outbox: Outbox) -> None:
    await _start(stub, await _task(stub))
    calls = 0

    async def flaky(entry: OutboxEntry) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError

    assert await outbox.relay_once(flaky) == 0
    assert await outbox.relay_once(flaky) == 1
    async with outbox.claim() as batch:
        assert batch.entries == []


async def test_concurrent_starts_of_one_task(stub: Stub, database_url: str) -> None:
    task = await _task(stub)
    results = await asyncio.gather(*(_start(stub, task) for _ in range(10)), return_exceptions=True)
    ok = [r for r in results if isinstance(r, tasks_pb2.Execution)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 1
    assert len(refused) == 9
    assert {r.details() for r in refused} == {"Task is already running"}
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM executions") == 1
        assert await conn.fetchval("SELECT count(*) FROM execution_outbox") == 1
        # The database refuses a second active execution even past the service's lock.
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO executions (id, task_id, user_id, started_by) VALUES ($1, $2, $3, $3)",
                uuid.uuid4(),
                uuid.UUID(task.id),
                uuid.UUID(task.user_id),
            )
    finally:
        await conn.close()


async def test_cancel_and_final_notices(stub: Stub, outbox: Outbox, nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    cancels: asyncio.Queue[bytes] = asyncio.Queue()
    finals: asyncio.Queue[str] = asyncio.Queue()

    async def on_cancel(msg: Msg) -> None:
        await cancels.put(msg.data)

    async def on_final(msg: Msg) -> None:
        await finals.put(msg.subject)

    await nc.subscribe(topology.CANCEL_SUBJECT, cb=on_cancel)
    await nc.subscribe(f"{topology.FINAL_SUBJECT_PREFIX}.*", cb=on_final)
    await nc.flush()
    try:
        task = await _task(stub)
        # Pending, job still in the outbox: dropped there, nothing to tell executors.
        first = await _start(stub, task)
        await stub.CancelExecution(tasks_pb2.CancelExecutionRequest(caller=CALLER, id=first.id))
        assert await asyncio.wait_for(finals.get(), 5) == topology.final_subject(first.id)
        assert await outbox.pending_count() == 0
        # Pending but already relayed: executors are told, and told not to start it.
        second = await _start(stub, task)

        async def sent(entry: OutboxEntry) -> None:
            return None

        assert await outbox.relay_once(sent) == 1
        await stub.CancelExecution(tasks_pb2.CancelExecutionRequest(caller=CALLER, id=second.id))
        request = jobs_pb2.CancelRequest.FromString(await asyncio.wait_for(cancels.get(), 5))
        assert request.execution_id == second.id
        kv = await nc.jetstream().key_value(topology.CANCELLED_BUCKET)
        assert (await kv.get(second.id)).value == b"1"
        # A result reported by a service announces the final state too.
        third = await _start(stub, task)
        for status in ("running", "timeout"):
            await stub.UpdateExecution(
                tasks_pb2.UpdateExecutionRequest(caller=SERVICE, id=third.id, status=status)
            )
        assert await asyncio.wait_for(finals.get(), 5) == topology.final_subject(second.id)
        assert await asyncio.wait_for(finals.get(), 5) == topology.final_subject(third.id)
    finally:
        await nc.close()
