"""Fixtures for the tasks service's own integration tests: a gRPC stub on the real service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.stack_fixtures import channel_as
from voidrunner.proto.tasks.v1 import tasks_pb2_grpc


@pytest.fixture
async def stub(
    tasks_addr: str, service_credentials: Credentials
) -> AsyncIterator[tasks_pb2_grpc.TasksServiceAsyncStub]:
    """A client of the running tasks service, calling as the gateway does."""
    channel = channel_as(service_credentials, "gateway", tasks_addr, "tasks")
    try:
        yield tasks_pb2_grpc.TasksServiceStub(channel)
    finally:
        await channel.close(None)
