"""The gRPC server lifecycle and interceptors on a real server on an ephemeral port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from voidrunner.common.errors import NotFound
from voidrunner.common.grpc_server import GrpcServer, insecure_channel
from voidrunner.common.request_context import current_request_id, set_request_id


async def _echo_request_id(request: bytes, context: object) -> bytes:
    if request == b"missing":
        raise NotFound("Thing not found")
    if request == b"boom":
        raise RuntimeError("secret internals")
    return current_request_id().encode()


def _register(server: grpc.aio.Server) -> None:
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {"RequestId": grpc.unary_unary_rpc_method_handler(_echo_request_id)},
    )
    server.add_generic_rpc_handlers((handler,))


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = GrpcServer(
        host="127.0.0.1", port=0, registrations=[_register], service_names=["test.Echo"]
    )
    port = await server.start()
    ch = insecure_channel(f"127.0.0.1:{port}")
    try:
        yield ch
    finally:
        await ch.close(None)
        await server.stop(0.1)


async def test_request_id_travels_in_metadata(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary("/test.Echo/RequestId", None, None)
    set_request_id("trace-42")
    assert await call(b"") == b"trace-42"
    set_request_id("")
    fresh = await call(b"")
    assert len(fresh) == 36  # the server made one up


async def test_errors_are_translated_once(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary("/test.Echo/RequestId", None, None)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await call(b"missing")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing.value.details() == "Thing not found"
    with pytest.raises(grpc.aio.AioRpcError) as boom:
        await call(b"boom")
    assert boom.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (boom.value.details() or "")


async def test_health_reports_serving(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", "test.Echo"):
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
