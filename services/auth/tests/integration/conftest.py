"""Fixtures for the auth service's own integration tests: a gRPC stub on the real service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.stack_fixtures import channel_as
from voidrunner.proto.auth.v1 import auth_pb2_grpc


@pytest.fixture
async def auth(
    auth_addr: str, service_credentials: Credentials
) -> AsyncIterator[auth_pb2_grpc.AuthServiceAsyncStub]:
    """A client of the running auth service, calling as the gateway does."""
    channel = channel_as(service_credentials, "gateway", auth_addr, "auth")
    try:
        yield auth_pb2_grpc.AuthServiceStub(channel)
    finally:
        await channel.close(None)
