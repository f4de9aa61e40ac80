"""The executor starts while NATS is away, reports it in grpc.health.v1, and recovers by itself."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest
from nats.js.api import DeliverPolicy

from voidrunner.contracts import topology as t
from voidrunner.contracts.streams import declare_pipeline
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.nats import EmbeddedNats
from voidrunner.devstack.stack_fixtures import health_of, until_health
from voidrunner.executor.main import ExecutorApp
from voidrunner.executor.settings import ExecutorSettings
from voidrunner.proto.jobs.v1 import jobs_pb2

pytestmark = pytest.mark.sandbox


async def run_one_job(nats_url: str, source: str) -> jobs_pb2.ExecutionResult:
    """Publish a job on the normal lane and wait for its result."""
    j = jobs_pb2.Job(
        execution_id=str(uuid.uuid4()),
        user_id="u1",
        runtime="python",
        inline_inputs=jobs_pb2.RunInputs(source=source),
        limits=jobs_pb2.Limits(timeout_seconds=10),
    )
    async with await nats.connect(nats_url) as nc:
        js = nc.jetstream()
        results = await js.subscribe(
            t.RESULT_SUBJECT, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        await js.publish(t.job_subject("normal"), j.SerializeToString())
        msg = await results.next_msg(timeout=30)
        return jobs_pb2.ExecutionResult.FromString(msg.data)


async def declare_at(nats_url: str) -> None:
    """What the tasks service and scheduler do at start: declare the streams and buckets."""
    async with await nats.connect(nats_url) as nc:
        await declare_pipeline(nc.jetstream())


async def test_starts_while_nats_is_away_and_takes_jobs_once_it_comes(
    nats_later: EmbeddedNats, service_credentials: Credentials
) -> None:
    app = ExecutorApp(
        ExecutorSettings(
            environment="test",
            nats_url=nats_later.url,
            executor_health_host="127.0.0.1",
            executor_health_port=0,
            executor_slots=1,
            shutdown_grace_seconds=5,
            loop_restart_first_seconds=0.1,
            loop_restart_max_seconds=0.5,
            **service_credentials.identity("executor"),
        )
    )
    async with asyncio.timeout(30):  # start-up no longer waits for NATS
        port = await app.start()
    health = f"127.0.0.1:{port}"
    try:
        await asyncio.sleep(0.5)
        assert await health_of(health) == "NOT_SERVING"
        assert not app.loops.health()["jobs"].up

        nats_later.start()
        await declare_at(nats_later.url)
        await until_health(health, "SERVING")
        result = await run_one_job(nats_later.url, "print('first')")
        assert result.inline_output.stdout == b"first\n"

        nats_later.stop()  # NATS restarts under a running executor
        await until_health(health, "NOT_SERVING")
        assert app.loops.health()["nats"].last_error == "nats disconnected"
        nats_later.start()
        await until_health(health, "SERVING")
        result = await run_one_job(nats_later.url, "print('after a restart')")
        assert result.inline_output.stdout == b"after a restart\n"
        assert app.loops.health()["jobs"].restarts == 0  # the job loop rode it out
    finally:
        await app.stop()
