"""The event recorder on a real NATS server: each event is recorded as it comes."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import nats

from voidrunner.contracts import topology as t
from voidrunner.contracts.streams import declare_streams
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.tasks.recorder import EventRecorder


class _Executions:
    """Stands in for the database side: this test is about consuming, not recording."""

    def __init__(self) -> None:
        self.updates: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def update(self, _caller: Any, execution_id: str, change: Any) -> None:
        await self.updates.put((execution_id, change))


async def test_a_run_s_events_are_recorded_as_they_come_after_an_idle_spell(
    nats_url: str,
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await declare_streams(js)
    executions = _Executions()
    # A long fetch window, so that a message held until the window ends shows as a failure.
    recorder = EventRecorder(executions, fetch_timeout=30.0)  # type: ignore[arg-type]
    stop = asyncio.Event()
    running = asyncio.create_task(recorder.run(js, stop))
    try:
        await asyncio.sleep(0.5)  # idle: the recorder waits in a lingering pull
        execution_id = str(uuid.uuid4())
        started = jobs_pb2.ExecutionStarted(execution_id=execution_id, attempt=1, claim=b"claim")
        started.started_at.FromDatetime(dt.datetime.now(dt.UTC))
        await js.publish(t.STARTED_SUBJECT, started.SerializeToString())
        first = await asyncio.wait_for(executions.updates.get(), 5)
        assert first[0] == execution_id
        await asyncio.sleep(0.05)  # the run
        result = jobs_pb2.ExecutionResult(
            execution_id=execution_id,
            attempt=1,
            claim=b"claim",
            termination_reason="exit",
            return_code=0,
            inline_output=jobs_pb2.RunOutput(stdout=b"hello\n", spans=[6]),
        )
        await js.publish(t.RESULT_SUBJECT, result.SerializeToString())
        second = await asyncio.wait_for(executions.updates.get(), 5)
        assert second[0] == execution_id
        assert second[1].status == "completed"
    finally:
        stop.set()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await nc.drain()
