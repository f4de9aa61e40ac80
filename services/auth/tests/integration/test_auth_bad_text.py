"""Text PostgreSQL cannot store (NUL) is bad input at the auth service itself, for any caller."""

from __future__ import annotations

import grpc
import pytest

from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.stack_fixtures import channel_as
from voidrunner.proto.auth.v1 import auth_pb2
from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceStub


async def test_nul_in_register_or_login_is_refused_not_a_500(
    auth_addr: str, service_credentials: Credentials
) -> None:
    async with channel_as(service_credentials, "gateway", auth_addr, "auth") as channel:
        auth = AuthServiceStub(channel)
        for email, name in (("a\x00@example.com", "Ada"), ("ada@example.com", "A\x00")):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await auth.Register(
                    auth_pb2.RegisterRequest(email=email, password="Sup3r-secret!", name=name)
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "NUL" in (refused.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as login:
            await auth.Login(auth_pb2.LoginRequest(email="a\x00@x.io", password="Sup3r-secret!"))
        assert login.value.code() == grpc.StatusCode.UNAUTHENTICATED
