"""Scheduler → JetStream → executor (real bwrap sandboxes) → events, on a real NATS server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import DeliverPolicy
from nats.js.errors import NoKeysError

from voidrunner.contracts import topology as t
from voidrunner.contracts.streams import declare_pipeline
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.stack_fixtures import until_healthy
from voidrunner.executor.main import ExecutorApp
from voidrunner.executor.settings import ExecutorSettings
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.scheduler.main import SchedulerApp
from voidrunner.scheduler.settings import SchedulerSettings

pytestmark = pytest.mark.sandbox


async def start_ready(app: SchedulerApp | ExecutorApp) -> None:
    """Start `app` and wait until its loops are bound (start returns before they are)."""
    await app.start()
    await until_healthy(app.loops, type(app).__name__)


def executor_settings(nats_url: str, creds: Credentials, **overrides: Any) -> ExecutorSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "nats_url": nats_url,
        "executor_health_host": "127.0.0.1",
        "executor_health_port": 0,
        "executor_slots": 2,
        "heartbeat_seconds": 0.5,
        "shutdown_grace_seconds": 5,
        **creds.identity("executor"),
        **overrides,
    }
    return ExecutorSettings(**values)


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    # What the tasks service and scheduler declare at start (executors only bind): tests
    # without a scheduler find the streams there too.
    await declare_pipeline(conn.jetstream())
    yield conn
    await conn.drain()


@pytest.fixture
async def pipeline(
    nats_url: str, service_credentials: Credentials
) -> AsyncIterator[tuple[SchedulerApp, ExecutorApp]]:
    scheduler = SchedulerApp(
        SchedulerSettings(
            environment="test",
            nats_url=nats_url,
            scheduler_health_host="127.0.0.1",
            scheduler_health_port=0,
            per_user_concurrency=2,
            concurrency_retry_seconds=0.2,
            **service_credentials.identity("scheduler"),
        )
    )
    executor = ExecutorApp(executor_settings(nats_url, service_credentials))
    await start_ready(scheduler)
    await start_ready(executor)
    yield scheduler, executor
    await executor.stop()
    await scheduler.stop()


def job(
    source: str, *, runtime: str = "python", user: str = "u1", priority: int = 5, **limits: Any
) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        execution_id=str(uuid.uuid4()),
        task_id=str(uuid.uuid4()),
        user_id=user,
        runtime=runtime,
        inline_inputs=jobs_pb2.RunInputs(source=source),
        priority=priority,
        limits=jobs_pb2.Limits(timeout_seconds=limits.pop("timeout", 10), **limits),
    )


async def request(nc: NATS, j: jobs_pb2.Job) -> None:
    await nc.jetstream().publish(
        t.REQUESTS_SUBJECT, j.SerializeToString(), headers={t.MSG_ID_HEADER: j.execution_id}
    )


async def results(nc: NATS, count: int, timeout: float = 30) -> list[jobs_pb2.ExecutionResult]:
    js = nc.jetstream()
    sub = await js.subscribe(
        t.RESULT_SUBJECT, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    found: list[jobs_pb2.ExecutionResult] = []
    try:
        async with asyncio.timeout(timeout):
            while len(found) < count:
                msg = await sub.next_msg(timeout=timeout)
                found.append(jobs_pb2.ExecutionResult.FromString(msg.data))
    finally:
        await sub.unsubscribe()
    return found


async def test_job_runs_and_streams_logs(nc: NATS, pipeline: object) -> None:
    j = job(
        "import time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(0.2)\n"
    )
    logs = await nc.jetstream().subscribe(
        t.log_subject(j.execution_id), ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    await request(nc, j)
    [result] = await results(nc, 1)
    assert result.execution_id == j.execution_id
    assert result.termination_reason == "exit"
    assert result.return_code == 0
    assert result.inline_output.stdout == b"line 0\nline 1\nline 2\n"
    assert result.execution_time_ms >= 400
    chunks: list[bytes] = []
    while b"".join(chunks) != result.inline_output.stdout:
        msg = await logs.next_msg(timeout=5)
        chunks.append(jobs_pb2.LogChunk.FromString(msg.data).data)
    assert len(chunks) >= 2, "output arrived in one piece: not streamed live"


async def test_unknown_runtime_and_malformed_jobs(nc: NATS, pipeline: object) -> None:
    await nc.jetstream().publish(t.job_subject("normal"), b"\xff\x00not a protobuf")
    bad = job("print(1)", runtime="cobol")
    await request(nc, bad)
    [result] = await results(nc, 1)
    assert result.execution_id == bad.execution_id
    assert result.termination_reason == "sandbox_error"
    assert "cobol" in result.termination_detail
    good = job("print('still alive')")
    await request(nc, good)
    found = await results(nc, 2)
    assert found[-1].inline_output.stdout == b"still alive\n"


async def test_each_run_of_a_duplicated_job_reports_under_its_own_claim(
    nc: NATS, pipeline: object
) -> None:
    j = job("print('once')")
    js = nc.jetstream()
    # The same job on the work queue twice (as after a redelivery race): both may run, and each
    # run reports under a claim of its own, so the recorder can keep one (tests/e2e prove it).
    for n in (1, 2):
        await js.publish(
            t.job_subject("normal"), j.SerializeToString(), headers={t.MSG_ID_HEADER: f"dup-{n}"}
        )
    found = await results(nc, 2)
    assert [r.inline_output.stdout for r in found] == [b"once\n", b"once\n"]
    claims = {r.claim for r in found}
    assert len(claims) == 2
    assert all(len(c) == 32 for c in claims)
    started = await js.subscribe(
        t.STARTED_SUBJECT, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    events = [jobs_pb2.ExecutionStarted.FromString((await started.next_msg(5)).data) for _ in "ab"]
    await started.unsubscribe()
    assert {e.claim for e in events} == claims


async def test_cancel_stops_a_running_job(nc: NATS, pipeline: object) -> None:
    j = job("import time\nprint('started', flush=True)\ntime.sleep(30)\n", timeout=60)
    logs = await nc.jetstream().subscribe(
        t.log_subject(j.execution_id), ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    await request(nc, j)
    await logs.next_msg(timeout=10)  # it runs
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await nc.publish(
        t.CANCEL_SUBJECT, jobs_pb2.CancelRequest(execution_id=j.execution_id).SerializeToString()
    )
    [result] = await results(nc, 1)
    assert result.termination_reason == "cancelled"
    assert loop.time() - sent < 1.0


async def test_a_result_frees_its_users_slot(nc: NATS, pipeline: object) -> None:
    from voidrunner.scheduler.inflight import INFLIGHT_BUCKET

    j = job("print('done')", user="finisher")
    await request(nc, j)
    [result] = await results(nc, 1)
    assert result.user_id == "finisher"  # what the scheduler releases by
    slots = await nc.jetstream().key_value(INFLIGHT_BUCKET)
    async with asyncio.timeout(10):
        while await _holds_slot(slots, "finisher", j.execution_id):
            await asyncio.sleep(0.05)
    try:
        keys = await slots.keys()
    except NoKeysError:
        keys = []
    assert [key for key in keys if key.startswith("e.")] == []  # no per-execution lookup key


async def _holds_slot(kv: Any, user: str, execution_id: str) -> bool:
    import json

    try:
        entry = await kv.get(f"u.{user}")
    except Exception:
        return False
    return entry.value is not None and execution_id in json.loads(entry.value)


async def test_per_user_concurrency_and_priority(nc: NATS, pipeline: object) -> None:
    slow = [job("import time; time.sleep(1)", user="busy") for _ in range(3)]
    for j in slow:
        await request(nc, j)
    other = job("print('other user')", user="idle")
    await request(nc, other)
    found = await results(nc, 4, timeout=40)
    order = [r.execution_id for r in found]
    # The other user is not held up behind the busy user's third job (limit 2 per user).
    assert order.index(other.execution_id) < order.index(slow[2].execution_id)


async def test_docker_backend_runs_jobs_under_gvisor(
    nc: NATS, nats_url: str, service_credentials: Credentials
) -> None:
    """VOIDRUNNER_SANDBOX_BACKEND=docker: the executor runs jobs in runsc containers."""
    host = os.environ.get("VOIDRUNNER_TEST_DOCKER_HOST")
    if not host:
        pytest.skip("no Docker engine: VOIDRUNNER_TEST_DOCKER_HOST is not set")
    executor = ExecutorApp(
        executor_settings(
            nats_url,
            service_credentials,
            sandbox_backend="docker",
            docker_host=host,
            docker_runtime="runsc",
            docker_owner=f"test-{uuid.uuid4().hex[:8]}",
        )
    )
    await start_ready(executor)
    try:
        j = job("import platform\nprint(platform.release())")
        await nc.jetstream().publish(
            t.job_subject("normal"),
            j.SerializeToString(),
            headers={t.MSG_ID_HEADER: j.execution_id},
        )
        [result] = await results(nc, 1, timeout=60)
        assert result.termination_reason == "exit", result.termination_detail
        assert (
            result.inline_output.stdout == b"4.4.0\n"
        )  # gVisor's kernel version: proof it ran under runsc
    finally:
        await executor.stop()


async def test_two_schedulers_dispatch_each_job_once(
    nc: NATS, nats_url: str, service_credentials: Credentials
) -> None:
    def scheduler() -> SchedulerApp:
        return SchedulerApp(
            SchedulerSettings(
                environment="test",
                nats_url=nats_url,
                scheduler_health_host="127.0.0.1",
                scheduler_health_port=0,
                per_user_concurrency=50,
                **service_credentials.identity("scheduler"),
            )
        )

    replicas = [scheduler(), scheduler()]
    executor = ExecutorApp(executor_settings(nats_url, service_credentials, executor_slots=4))
    for app in replicas:
        await start_ready(app)
    await start_ready(executor)
    try:
        jobs = [job(f"print({i})", user=f"user{i % 3}") for i in range(12)]
        for j in jobs:
            await request(nc, j)
        found = await results(nc, 12, timeout=60)
        assert sorted(r.execution_id for r in found) == sorted(j.execution_id for j in jobs)
        started = await nc.jetstream().stream_info(
            t.EVENTS_STREAM, subjects_filter=t.STARTED_SUBJECT
        )
        assert started.state.subjects == {t.STARTED_SUBJECT: 12}  # each ran exactly once
    finally:
        await executor.stop()
        for app in replicas:
            await app.stop()


async def test_heartbeats_keep_a_long_run_from_being_redelivered(
    nc: NATS, nats_url: str, service_credentials: Credentials
) -> None:
    executor = ExecutorApp(
        executor_settings(
            nats_url, service_credentials, ack_wait_seconds=1.0, heartbeat_seconds=0.3
        )
    )
    await start_ready(executor)
    try:
        j = job("import time\ntime.sleep(3)\nprint('ok')")
        await nc.jetstream().publish(t.job_subject("normal"), j.SerializeToString())
        [result] = await results(nc, 1)
        assert result.inline_output.stdout == b"ok\n"
        assert result.attempt == 1
    finally:
        await executor.stop()


async def test_shutdown_finishes_short_runs_and_hands_back_long_ones(
    nc: NATS, nats_url: str, service_credentials: Credentials
) -> None:
    first = ExecutorApp(
        executor_settings(nats_url, service_credentials, shutdown_grace_seconds=1.5)
    )
    await start_ready(first)
    short = job("import time\nprint('s', flush=True)\ntime.sleep(0.5)\nprint('short')")
    long = job("import time\nprint('l', flush=True)\ntime.sleep(4)\nprint('long')")
    js = nc.jetstream()
    for j in (short, long):
        logs = await js.subscribe(t.log_subject(j.execution_id), ordered_consumer=True)
        await js.publish(t.job_subject("normal"), j.SerializeToString())
        await logs.next_msg(timeout=10)  # both are running
        await logs.unsubscribe()
    await first.stop()  # SIGTERM: the short one finishes, the long one is handed back
    [finished] = await results(nc, 1)
    assert finished.execution_id == short.execution_id
    second = ExecutorApp(executor_settings(nats_url, service_credentials))
    await start_ready(second)
    try:
        found = await results(nc, 2, timeout=30)
        rerun = next(r for r in found if r.execution_id == long.execution_id)
        assert rerun.inline_output.stdout == b"l\nlong\n"
        assert rerun.attempt == 2
    finally:
        await second.stop()
