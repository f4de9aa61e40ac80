"""Fixtures for the tasks service's own integration tests: a gRPC stub on the real service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from voidrunner.common.grpc_server import insecure_channel
from voidrunner.proto.tasks.v1 import tasks_pb2_grpc


@pytest.fixture
async def stub(tasks_addr: str) -> AsyncIterator[tasks_pb2_grpc.TasksServiceAsyncStub]:
    """A client of the running tasks service."""
    channel = insecure_channel(tasks_addr)
    try:
        yield tasks_pb2_grpc.TasksServiceStub(channel)
    finally:
        await channel.close(None)
