"""The scheduler alone on a real NATS server: requests in, jobs on lanes out, results by hand.

Its rules (lanes by priority, per-user admission, cancelled requests, slots freed by results) and
its supervision (it starts while NATS is away; a broken loop shows in grpc.health.v1, then heals).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NoKeysError

from voidrunner.contracts import topology as t
from voidrunner.contracts.streams import cancelled_bucket
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.nats import EmbeddedNats
from voidrunner.devstack.stack_fixtures import health_of, until_health, until_healthy
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.scheduler.inflight import INFLIGHT_BUCKET
from voidrunner.scheduler.main import SchedulerApp
from voidrunner.scheduler.settings import SchedulerSettings


def scheduler_settings(nats_url: str, creds: Credentials, **overrides: Any) -> SchedulerSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "nats_url": nats_url,
        # No tasks service here: the reaper's sweeps are skipped (and logged), nothing else.
        "tasks_addr": "127.0.0.1:9",
        "scheduler_health_host": "127.0.0.1",
        "scheduler_health_port": 0,
        "per_user_concurrency": 2,
        "concurrency_retry_seconds": 0.2,
        "shutdown_grace_seconds": 2,
        **creds.identity("scheduler"),
        **overrides,
    }
    return SchedulerSettings(**values)


@dataclass
class Running:
    app: SchedulerApp
    health: str  # host:port of its grpc.health.v1


@pytest.fixture
async def scheduler(nats_url: str, service_credentials: Credentials) -> AsyncIterator[Running]:
    app = SchedulerApp(scheduler_settings(nats_url, service_credentials))
    port = await app.start()
    try:
        await until_healthy(app.loops, "scheduler")
        yield Running(app, f"127.0.0.1:{port}")
    finally:
        await app.stop()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    try:
        yield conn
    finally:
        await conn.drain()


def job(user: str = "u1", priority: int = 5) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        execution_id=str(uuid.uuid4()),
        task_id=str(uuid.uuid4()),
        user_id=user,
        runtime="python",
        inline_inputs=jobs_pb2.RunInputs(source="print(1)"),
        priority=priority,
        limits=jobs_pb2.Limits(timeout_seconds=10),
    )


async def request(nc: NATS, j: jobs_pb2.Job) -> None:
    """Publish `j` as the tasks service's relay does."""
    await nc.jetstream().publish(
        t.REQUESTS_SUBJECT, j.SerializeToString(), headers={t.MSG_ID_HEADER: j.execution_id}
    )


async def finish(nc: NATS, j: jobs_pb2.Job) -> None:
    """Publish the result of `j` as an executor does."""
    result = jobs_pb2.ExecutionResult(
        execution_id=j.execution_id,
        user_id=j.user_id,
        attempt=1,
        termination_reason="exit",
        return_code=0,
    )
    await nc.jetstream().publish(
        t.RESULT_SUBJECT,
        result.SerializeToString(),
        headers={t.MSG_ID_HEADER: f"{j.execution_id}:result"},
    )


@dataclass(frozen=True)
class Dispatched:
    subject: str
    msg_id: str
    job: jobs_pb2.Job


async def dispatched(nc: NATS) -> list[Dispatched]:
    """Every job on the lanes now (nothing consumes them here)."""
    js = nc.jetstream()
    info = await js.stream_info(t.JOBS_STREAM)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        msg = await js.get_msg(t.JOBS_STREAM, seq)
        msg_id = (msg.headers or {}).get(t.MSG_ID_HEADER, "")
        found.append(
            Dispatched(msg.subject or "", msg_id, jobs_pb2.Job.FromString(msg.data or b""))
        )
    return found


async def until_dispatched(nc: NATS, count: int, seconds: float = 10.0) -> list[Dispatched]:
    async with asyncio.timeout(seconds):
        while len(found := await dispatched(nc)) < count:
            await asyncio.sleep(0.02)
    return found


async def holds_slot(nc: NATS, user: str, execution_id: str) -> bool:
    kv = await nc.jetstream().key_value(INFLIGHT_BUCKET)
    try:
        entry = await kv.get(f"u.{user}")
    except Exception:
        return False
    return entry.value is not None and execution_id in json.loads(entry.value)


# Rules


async def test_each_request_goes_to_the_lane_of_its_priority_once(
    scheduler: Running, nc: NATS
) -> None:
    jobs = [job(user=f"u{p}", priority=p) for p in (10, 5, 0)]
    for j in jobs:
        await request(nc, j)
    await request(nc, jobs[1])  # a duplicate publish (a relay retry) is dropped by its msg id
    found = await until_dispatched(nc, 3)
    await asyncio.sleep(0.3)
    assert len(await dispatched(nc)) == 3
    by_id = {d.job.execution_id: d for d in found}
    for j, lane in zip(jobs, ("urgent", "normal", "low"), strict=True):
        got = by_id[j.execution_id]
        assert got.subject == t.job_subject(lane)
        assert got.job.attempt == 1
        assert got.msg_id == f"{j.execution_id}:1"


async def test_a_user_at_the_limit_waits_for_a_result_others_do_not(
    scheduler: Running, nc: NATS
) -> None:
    busy = [job(user="busy") for _ in range(3)]
    other = job(user="other")
    for j in [*busy, other]:
        await request(nc, j)
    await until_dispatched(nc, 3)
    await asyncio.sleep(0.6)  # three retries of the held request (retry delay 0.2 s)
    ids = {d.job.execution_id for d in await dispatched(nc)}
    assert ids == {busy[0].execution_id, busy[1].execution_id, other.execution_id}
    await finish(nc, busy[0])
    found = await until_dispatched(nc, 4)
    assert found[-1].job.execution_id == busy[2].execution_id


async def test_a_request_cancelled_before_dispatch_never_reaches_a_lane_nor_holds_a_slot(
    scheduler: Running, nc: NATS
) -> None:
    gone, kept = job(user="quitter"), job(user="quitter")
    await (await cancelled_bucket(nc.jetstream())).put(gone.execution_id, b"1")
    await request(nc, gone)
    await request(nc, kept)
    [only] = await until_dispatched(nc, 1)
    await asyncio.sleep(0.3)
    assert [d.job.execution_id for d in await dispatched(nc)] == [kept.execution_id]
    assert only.job.execution_id == kept.execution_id
    # The cancelled request's slot (taken while the cancel check was in flight) is given back.
    assert not await holds_slot(nc, "quitter", gone.execution_id)


async def test_a_result_frees_its_users_slot(scheduler: Running, nc: NATS) -> None:
    j = job(user="finisher")
    await request(nc, j)
    await until_dispatched(nc, 1)
    assert await holds_slot(nc, "finisher", j.execution_id)
    await finish(nc, j)
    async with asyncio.timeout(10):
        while await holds_slot(nc, "finisher", j.execution_id):
            await asyncio.sleep(0.05)
    try:
        keys = await (await nc.jetstream().key_value(INFLIGHT_BUCKET)).keys()
    except NoKeysError:
        keys = []
    assert [key for key in keys if key.startswith("e.")] == []  # no per-execution lookup key


async def test_malformed_requests_are_dropped_and_dispatch_goes_on(
    scheduler: Running, nc: NATS
) -> None:
    await nc.jetstream().publish(t.REQUESTS_SUBJECT, b"\xff\x00not a protobuf")
    await nc.jetstream().publish(
        t.REQUESTS_SUBJECT, jobs_pb2.Job(runtime="python").SerializeToString()
    )
    good = job()
    await request(nc, good)
    [only] = await until_dispatched(nc, 1)
    assert only.job.execution_id == good.execution_id
    info = await nc.jetstream().stream_info(t.REQUESTS_STREAM)
    await asyncio.sleep(0.2)
    assert info.state.messages == 0  # terminated, not left to be redelivered


# Supervision


async def test_starts_while_nats_is_away_and_recovers_by_itself(
    nats_later: EmbeddedNats, service_credentials: Credentials
) -> None:
    app = SchedulerApp(
        scheduler_settings(
            nats_later.url,
            service_credentials,
            loop_restart_first_seconds=0.1,
            loop_restart_max_seconds=0.5,
        )
    )
    async with asyncio.timeout(10):  # start-up no longer waits for NATS
        port = await app.start()
    health = f"127.0.0.1:{port}"
    try:
        await asyncio.sleep(0.5)
        assert await health_of(health) == "NOT_SERVING"
        loops = app.loops.health()
        assert not loops["nats"].up
        assert "nats unreachable" in (loops["nats"].last_error or "")
        assert not loops["dispatch"].up  # waiting for NATS, not serving

        nats_later.start()
        await until_health(health, "SERVING")
        async with await nats.connect(nats_later.url) as nc:
            j = job()
            await request(nc, j)
            [got] = await until_dispatched(nc, 1)
            assert got.job.execution_id == j.execution_id
    finally:
        await app.stop()


async def test_a_broken_dispatch_loop_shows_in_health_then_heals(
    nats_url: str, nc: NATS, service_credentials: Credentials
) -> None:
    # A second before each restart, so that the outage is long enough to be watched.
    app = SchedulerApp(
        scheduler_settings(nats_url, service_credentials, loop_restart_first_seconds=1.0)
    )
    port = await app.start()
    health = f"127.0.0.1:{port}"
    try:
        await until_health(health, "SERVING")
        # Its dependency fails under it: the durable consumer it fetches from is deleted.
        await nc.jetstream().delete_consumer(t.REQUESTS_STREAM, t.SCHEDULER_CONSUMER)
        await until_health(health, "NOT_SERVING", seconds=10)
        dispatch = app.loops.health()["dispatch"]
        assert not dispatch.up
        assert dispatch.restarts == 1
        assert "ServiceUnavailableError" in (dispatch.last_error or "")
        assert app.loops.health()["release"].up  # only the broken loop is down
        await until_health(health, "SERVING", seconds=10)  # it bound again by itself
        j = job()
        await request(nc, j)
        [got] = await until_dispatched(nc, 1)
        assert got.job.execution_id == j.execution_id
    finally:
        await app.stop()
