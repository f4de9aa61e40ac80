"""The tasks service starts while NATS is away: it serves its API, reports NOT_SERVING on
grpc.health.v1, and once NATS comes its relay and recorder start by themselves."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import nats
import pytest

from voidrunner.contracts import topology as t
from voidrunner.devstack.nats import EmbeddedNats
from voidrunner.devstack.stack_fixtures import health_of, until_health
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.proto.tasks.v1 import tasks_pb2

if TYPE_CHECKING:
    from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceAsyncStub as Stub

CALLER = tasks_pb2.Caller(user_id=str(uuid.uuid4()), role="user")
SERVICE = tasks_pb2.DESCRIPTOR.services_by_name["TasksService"].full_name


@pytest.fixture
def nats_url(nats_later: EmbeddedNats) -> str:
    """The services of this module start while NATS is not running yet."""
    return nats_later.url


@pytest.fixture
def services_wait_for_loops() -> bool:
    return False


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    return {
        "outbox_poll_seconds": 0.1,
        "loop_restart_first_seconds": 0.1,
        "loop_restart_max_seconds": 0.5,
    }


async def test_serves_while_nats_is_away_and_starts_its_loops_once_it_comes(
    stub: Stub, tasks_addr: str, nats_later: EmbeddedNats
) -> None:
    assert await health_of(tasks_addr) == "NOT_SERVING"
    assert await health_of(tasks_addr, SERVICE) == "NOT_SERVING"
    # Its API works meanwhile: the new execution waits in the outbox.
    fields = tasks_pb2.TaskFields(name="j", script_content="echo hi", script_type="bash")
    task = await stub.CreateTask(tasks_pb2.CreateTaskRequest(caller=CALLER, fields=fields))
    started = await stub.StartExecution(
        tasks_pb2.StartExecutionRequest(caller=CALLER, task_id=task.id)
    )

    nats_later.start()
    await until_health(tasks_addr, "SERVING")
    assert await health_of(tasks_addr, SERVICE) == "SERVING"
    async with await nats.connect(nats_later.url) as nc:
        js = nc.jetstream()
        async with asyncio.timeout(10):  # the relay sent the job that waited
            while (await js.stream_info(t.REQUESTS_STREAM)).state.messages < 1:
                await asyncio.sleep(0.05)
        result = jobs_pb2.ExecutionResult(
            execution_id=started.execution.id,
            user_id=CALLER.user_id,
            attempt=1,
            claim=b"an executor's claim",
            termination_reason="exit",
            return_code=0,
            inline_output=jobs_pb2.RunOutput(stdout=b"hi\n", spans=[3]),
        )
        await js.publish(t.RESULT_SUBJECT, result.SerializeToString())
    request = tasks_pb2.GetExecutionRequest(caller=CALLER, id=started.execution.id)
    async with asyncio.timeout(10):  # the recorder started and recorded it
        while (execution := await stub.GetExecution(request)).status != "completed":
            await asyncio.sleep(0.05)
    assert execution.stdout == b"hi\n"

    nats_later.stop()  # NATS goes away under the running service, then comes back
    await until_health(tasks_addr, "NOT_SERVING")
    nats_later.start()
    await until_health(tasks_addr, "SERVING")
