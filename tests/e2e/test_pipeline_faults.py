"""What the pipeline does when parts fail: lost executors, stuck executions, duplicate and
bogus events, jobs that keep failing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from nats.aio.client import Client as NATS

from tests.e2e.test_pipeline import create_task, login
from voidrunner.contracts import topology as t
from voidrunner.contracts.streams import declare_streams, lane_consumer
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.processes import free_port
from voidrunner.devstack.stack_fixtures import channel_as, until_healthy
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceStub
from voidrunner.scheduler.dead_letters import DeadLetters
from voidrunner.scheduler.reaper import Reaper

pytestmark = pytest.mark.sandbox


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    await declare_streams(conn.jetstream())
    yield conn
    # close, not drain: draining a pull subscription (the dead-letter test's) waits out
    # nats-py's 30 s drain timeout, and a test's client has nothing to flush.
    await conn.close()


async def _start(client: httpx.AsyncClient, auth: dict[str, str], task_id: str) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/tasks/{task_id}/executions", headers=auth)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def _until(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    execution_id: str,
    *statuses: str,
    timeout: float = 30,
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            body: dict[str, Any] = (
                await client.get(f"/api/v1/executions/{execution_id}", headers=auth)
            ).json()
            if body["status"] in statuses:
                return body
            await asyncio.sleep(0.1)


async def _publish_result(nc: NATS, execution_id: str, **fields: Any) -> None:
    fields.setdefault("claim", uuid.uuid4().bytes)  # as an executor's claim of its attempt
    result = jobs_pb2.ExecutionResult(execution_id=execution_id, **fields)
    await nc.jetstream().publish(
        t.RESULT_SUBJECT, result.SerializeToString(), headers={t.MSG_ID_HEADER: f"{uuid.uuid4()}"}
    )


async def test_results_are_recorded_once_and_bogus_events_are_dropped(
    client: httpx.AsyncClient, tasks_addr: str, nc: NATS
) -> None:
    auth = await login(client)
    execution = await _start(client, auth, await create_task(client, auth, "print(1)"))
    js = nc.jetstream()
    await js.publish(t.RESULT_SUBJECT, b"\xff garbage")
    await js.publish(t.STARTED_SUBJECT, b"\x00\x01 garbage")
    await _publish_result(nc, str(uuid.uuid4()), termination_reason="exit", return_code=0)
    await _publish_result(
        nc,
        execution["id"],
        attempt=1,
        termination_reason="exit",
        return_code=0,
        inline_output=jobs_pb2.RunOutput(stdout=b"first\n", spans=[6]),
        execution_time_ms=12,
    )
    # A second, different result (another executor raced): it must not change anything.
    await _publish_result(
        nc,
        execution["id"],
        attempt=2,
        termination_reason="exit",
        return_code=1,
        inline_output=jobs_pb2.RunOutput(stdout=b"second\n", spans=[7]),
    )
    done = await _until(client, auth, execution["id"], "completed", "failed")
    await asyncio.sleep(1.0)  # let the second result be consumed
    final = (await client.get(f"/api/v1/executions/{execution['id']}", headers=auth)).json()
    assert final == done
    assert final["status"] == "completed"
    assert final["stdout"] == "first\n"
    assert final["execution_time_ms"] == 12


async def test_reaper_requeues_then_ends_stuck_executions(
    client: httpx.AsyncClient, tasks_addr: str, nc: NATS, service_credentials: Credentials
) -> None:
    auth = await login(client)
    pending = await _start(client, auth, await create_task(client, auth, "print(1)"))
    channel = channel_as(service_credentials, "scheduler", tasks_addr, "tasks")
    try:
        stub = TasksServiceStub(channel)
        await asyncio.sleep(0.3)
        requeuing = Reaper(
            stub, nc.jetstream(), pending_timeout=0.2, grace=0, max_requeues=5, interval=1
        )
        assert await requeuing.sweep() == (1, 0)
        info = await nc.jetstream().stream_info(t.REQUESTS_STREAM)
        assert info.state.messages == 2  # the original request (no scheduler here) and the re-queue
        ending = Reaper(
            stub, nc.jetstream(), pending_timeout=0.1, grace=0, max_requeues=0, interval=1
        )
        assert await ending.sweep() == (0, 1)
        ended = await _until(client, auth, pending["id"], "failed")
        assert ended["termination_reason"] == "sandbox_error"
        assert "not picked up" in ended["termination_detail"]
    finally:
        await channel.close(None)


async def test_dead_letter_after_max_deliveries(
    client: httpx.AsyncClient, tasks_addr: str, nc: NATS
) -> None:
    auth = await login(client)
    execution = await _start(client, auth, await create_task(client, auth, "print(1)"))
    js = nc.jetstream()
    await DeadLetters(nc, js).start()
    await js.add_consumer(t.JOBS_STREAM, lane_consumer("normal", ack_wait=0.5, max_deliver=2))
    sub = await js.pull_subscribe_bind(durable=t.job_consumer("normal"), stream=t.JOBS_STREAM)
    job = jobs_pb2.Job(
        execution_id=execution["id"],
        user_id="u",
        runtime="python",
        inline_inputs=jobs_pb2.RunInputs(source="print(1)"),
    )
    await js.publish(t.job_subject("normal"), job.SerializeToString())
    for _ in range(2):  # an executor that takes the job and dies, twice
        [msg] = await sub.fetch(1, timeout=5)
        assert jobs_pb2.Job.FromString(msg.data).execution_id == execution["id"]
        await asyncio.sleep(0.7)
    # The next pull is when JetStream notices the limit and sends the advisory.
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=1)
    ended = await _until(client, auth, execution["id"], "failed")
    assert ended["termination_reason"] == "sandbox_error"
    assert "delivery attempts" in ended["termination_detail"]
    dead = await js.stream_info(t.DEAD_STREAM)
    assert dead.state.messages == 1
    jobs = await js.stream_info(t.JOBS_STREAM)
    assert jobs.state.messages == 0


def _executor_process(nats_url: str, creds: Credentials) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **creds.environment("executor"),
        "VOIDRUNNER_ENVIRONMENT": "test",
        "VOIDRUNNER_NATS_URL": nats_url,
        "VOIDRUNNER_EXECUTOR_HEALTH_PORT": str(free_port()),
        "VOIDRUNNER_EXECUTOR_HEALTH_HOST": "127.0.0.1",
        "VOIDRUNNER_ACK_WAIT_SECONDS": "2",
        "VOIDRUNNER_HEARTBEAT_SECONDS": "0.5",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "voidrunner.executor"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture
def executor_settings_overrides() -> dict[str, Any]:
    return {"ack_wait_seconds": 2.0}


async def test_executor_killed_mid_run_the_job_runs_again_elsewhere(
    client: httpx.AsyncClient,
    nats_url: str,
    tasks_addr: str,
    database_url: str,
    service_credentials: Credentials,
) -> None:
    auth = await login(client)
    from voidrunner.scheduler.main import SchedulerApp
    from voidrunner.scheduler.settings import SchedulerSettings

    scheduler = SchedulerApp(
        SchedulerSettings(
            environment="test",
            nats_url=nats_url,
            tasks_addr=tasks_addr,
            scheduler_health_host="127.0.0.1",
            scheduler_health_port=0,
            **service_credentials.identity("scheduler"),
        )
    )
    await scheduler.start()
    await until_healthy(scheduler.loops, "scheduler")
    doomed = _executor_process(nats_url, service_credentials)
    try:
        script = "import time\nprint('working', flush=True)\ntime.sleep(1.5)\nprint('done')"
        execution = await _start(client, auth, await create_task(client, auth, script))
        await _until(client, auth, execution["id"], "running")
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
        # The sandbox died with its executor (--die-with-parent): nothing of it is left.
        survivor = _executor_process(nats_url, service_credentials)
        try:
            final = await _until(client, auth, execution["id"], "completed", "failed", timeout=60)
        finally:
            survivor.send_signal(signal.SIGTERM)
            survivor.wait(timeout=30)
        assert final["status"] == "completed", final
        assert final["stdout"] == "working\ndone\n"
        assert final["attempt"] == 2
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetchval(
                "SELECT count(*) FROM executions WHERE id = $1", uuid.UUID(execution["id"])
            )
        finally:
            await conn.close()
        assert rows == 1
    finally:
        if doomed.poll() is None:
            doomed.kill()
        await scheduler.stop()
