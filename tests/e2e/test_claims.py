"""Claim-bound attempts through the real pipeline: a client that can publish on the executors'
subjects (a compromised executor) cannot finish, overwrite or pollute an execution it does not run.

The test connection below may publish anywhere, as the least-privileged executor user may on its
own subjects (tests/e2e/test_nats_permissions.py shows what else it may not)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.client import Client as NATS

from tests.e2e.sse import events
from tests.e2e.test_pipeline import create_task, login
from voidrunner.contracts import topology as t
from voidrunner.contracts.claims import Claim
from voidrunner.proto.jobs.v1 import jobs_pb2

pytestmark = pytest.mark.sandbox

SLOW = "import time\nprint('real 1', flush=True)\ntime.sleep(2)\nprint('real 2', flush=True)\n"


@pytest.fixture
async def nc(nats_url: str, pipeline: object) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    yield conn
    await conn.drain()


async def _running(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    task_id = await create_task(client, auth, SLOW)
    execution = (await client.post(f"/api/v1/tasks/{task_id}/executions", headers=auth)).json()
    return await _until(client, auth, execution["id"], lambda e: e["status"] == "running")


async def _until(
    client: httpx.AsyncClient, auth: dict[str, str], execution_id: str, done: Any
) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            body: dict[str, Any] = (
                await client.get(f"/api/v1/executions/{execution_id}", headers=auth)
            ).json()
            if done(body):
                return body
            await asyncio.sleep(0.05)


def _ended(body: dict[str, Any]) -> bool:
    return body["status"] in ("completed", "failed", "cancelled", "timeout")


async def _forge_result(nc: NATS, execution_id: str, attempt: int, claim: bytes) -> None:
    result = jobs_pb2.ExecutionResult(
        execution_id=execution_id,
        attempt=attempt,
        termination_reason="exit",
        return_code=0,
        inline_output=jobs_pb2.RunOutput(stdout=b"forged\n", spans=[7]),
        claim=claim,
    )
    # A guessable message id, as a forger would pick it to make the stream drop the real one.
    await nc.jetstream().publish(
        t.RESULT_SUBJECT,
        result.SerializeToString(),
        headers={t.MSG_ID_HEADER: t.result_msg_id(execution_id, attempt, "")},
    )


async def test_a_forged_result_cannot_finish_a_running_execution(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    auth = await login(client)
    execution = await _running(client, auth)
    await _forge_result(nc, execution["id"], execution["attempt"], secrets.token_bytes(32))
    final = await _until(client, auth, execution["id"], _ended)
    assert final["status"] == "completed"
    assert final["stdout"] == "real 1\nreal 2\n"


async def test_a_stale_attempt_is_refused_once_a_later_attempt_takes_over(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    auth = await login(client)
    execution = await _running(client, auth)
    eid, attempt = execution["id"], execution["attempt"]
    successor = Claim.new()
    now = Timestamp()
    now.GetCurrentTime()
    started = jobs_pb2.ExecutionStarted(
        execution_id=eid,
        attempt=attempt + 1,
        executor_id="successor",
        started_at=now,
        max_duration_ms=60_000,
        claim=successor.secret,
    )
    await nc.jetstream().publish(
        t.STARTED_SUBJECT,
        started.SerializeToString(),
        headers={t.MSG_ID_HEADER: f"{uuid.uuid4()}"},
    )
    await _until(client, auth, eid, lambda e: e["attempt"] == attempt + 1)
    # The real executor (now the stale attempt) finishes within ~2 s: its result is refused.
    await asyncio.sleep(3.5)
    body = (await client.get(f"/api/v1/executions/{eid}", headers=auth)).json()
    assert body["status"] == "running", body
    # The successor's result, under its claim, is the one recorded.
    result = jobs_pb2.ExecutionResult(
        execution_id=eid,
        attempt=attempt + 1,
        termination_reason="exit",
        return_code=0,
        inline_output=jobs_pb2.RunOutput(stdout=b"successor\n", spans=[10]),
        claim=successor.secret,
    )
    await nc.jetstream().publish(
        t.RESULT_SUBJECT,
        result.SerializeToString(),
        headers={t.MSG_ID_HEADER: t.result_msg_id(eid, attempt + 1, successor.tag)},
    )
    final = await _until(client, auth, eid, _ended)
    assert (final["status"], final["stdout"]) == ("completed", "successor\n")


async def test_forged_log_chunks_are_not_shown_to_viewers(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    auth = await login(client)
    execution = await _running(client, auth)
    eid = execution["id"]
    url = f"/api/v1/executions/{eid}/logs"
    seen: list[Any] = []
    async for event in events(client, url, auth):
        seen.append(event)
        if event.name == "stdout" and len(seen) == 1:
            # Chunks for the same attempt, but under no claim or a made-up one.
            for seq, tag in ((50, ""), (51, secrets.token_hex(8))):
                chunk = jobs_pb2.LogChunk(
                    execution_id=eid,
                    attempt=execution["attempt"],
                    seq=seq,
                    stream=jobs_pb2.STREAM_STDOUT,
                    data=b"FORGED\n",
                    claim_tag=tag,
                )
                await nc.publish(t.log_subject(eid), chunk.SerializeToString())
    live = "".join(e.data["text"] for e in seen if e.name == "stdout")
    assert live == "real 1\nreal 2\n"
    replay = [e async for e in events(client, url, auth)]
    assert "".join(e.data["text"] for e in replay if e.name == "stdout") == live
