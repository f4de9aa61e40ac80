"""The service's own outbox relay: jobs committed while NATS is down reach the scheduler's
stream once it is back, exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
import nats
import pytest

from voidrunner.contracts import topology
from voidrunner.devstack.nats import EmbeddedNats
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.proto.tasks.v1 import tasks_pb2

if TYPE_CHECKING:
    from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceAsyncStub as Stub

CALLER = tasks_pb2.Caller(user_id=str(uuid.uuid4()), role="user")


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    return {"outbox_poll_seconds": 0.1}


async def _pending(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM execution_outbox WHERE published_at IS NULL"
        )
        return count
    finally:
        await conn.close()


async def _eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_jobs_wait_out_a_nats_outage(
    stub: Stub, database_url: str, nats_server: EmbeddedNats, nats_url: str
) -> None:
    fields = tasks_pb2.TaskFields(name="j", script_content="echo hi", script_type="bash")
    task = await stub.CreateTask(tasks_pb2.CreateTaskRequest(caller=CALLER, fields=fields))
    live = await stub.StartExecution(
        tasks_pb2.StartExecutionRequest(caller=CALLER, task_id=task.id)
    )

    async def drained() -> bool:
        return await _pending(database_url) == 0

    await _eventually(drained)  # NATS up: relayed right away
    await stub.CancelExecution(
        tasks_pb2.CancelExecutionRequest(caller=CALLER, id=live.execution.id)
    )

    nats_server.stop()
    started = await stub.StartExecution(
        tasks_pb2.StartExecutionRequest(caller=CALLER, task_id=task.id)
    )
    await asyncio.sleep(0.5)
    assert await _pending(database_url) == 1  # committed, waiting in PostgreSQL
    nats_server.start()
    await _eventually(drained)

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(topology.REQUESTS_STREAM)
        assert info.state.messages == 2
        sub = await js.pull_subscribe(topology.REQUESTS_SUBJECT, durable=None)
        msgs = await sub.fetch(2, timeout=5)
        jobs = [jobs_pb2.Job.FromString(m.data) for m in msgs]
        assert [j.execution_id for j in jobs] == [live.execution.id, started.execution.id]
        assert msgs[1].headers is not None
        assert msgs[1].headers[topology.MSG_ID_HEADER] == started.execution.id
        assert jobs[1].runtime == "bash"
    finally:
        await nc.close()
