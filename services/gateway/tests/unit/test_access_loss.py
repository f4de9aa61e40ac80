"""A shared viewer's log stream stops once their access is gone or cannot be confirmed."""

from __future__ import annotations

import asyncio
import time

import grpc
from grpc.aio import AioRpcError, Metadata

from voidrunner.gateway.live import ACCESS_GRACE_SECONDS, ACCESS_SECONDS, AccessLoss
from voidrunner.gateway.log_claims import GetExecution
from voidrunner.proto.tasks.v1 import tasks_pb2


def _gone() -> AioRpcError:
    return AioRpcError(
        grpc.StatusCode.NOT_FOUND, Metadata(), Metadata(), "Execution not found", None
    )


async def _lost_after(get: GetExecution) -> tuple[float, str]:
    loss = AccessLoss(get)
    began = time.monotonic()
    loss.start()
    try:
        await asyncio.wait_for(loss.event.wait(), 5)
    finally:
        loss.stop()
    return time.monotonic() - began, loss.reason


async def test_a_revoked_share_is_noticed_at_the_next_check() -> None:
    calls = 0

    async def get() -> tasks_pb2.Execution:
        nonlocal calls
        calls += 1
        if calls >= 2:
            raise _gone()
        return tasks_pb2.Execution()

    took, reason = await _lost_after(get)
    assert reason == "Execution not found"
    assert 2 * ACCESS_SECONDS <= took < 2 * ACCESS_SECONDS + 0.5


async def test_a_check_that_keeps_failing_ends_the_stream_within_the_grace() -> None:
    async def get() -> tasks_pb2.Execution:
        raise RuntimeError("channel closed")

    took, reason = await _lost_after(get)
    assert reason == "Service temporarily unavailable"
    assert took < ACCESS_GRACE_SECONDS + 2 * ACCESS_SECONDS


async def test_an_owners_stream_is_never_checked() -> None:
    loss = AccessLoss(None)
    loss.start()
    await asyncio.sleep(2 * ACCESS_SECONDS)
    loss.stop()
    assert not loss.event.is_set()
