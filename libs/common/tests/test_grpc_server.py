"""The gRPC server lifecycle and interceptors on a real server on an ephemeral port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from voidrunner.common.errors import NotFound
from voidrunner.common.grpc_interceptors import ServerInterceptor
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


async def test_each_call_reads_its_own_request_id(channel: grpc.aio.Channel) -> None:
    # The method's wrapped handler is built once; the id must come from each call's metadata.
    call = channel.unary_unary("/test.Echo/RequestId", None, None)
    set_request_id("")
    ids = [f"req-{i}" for i in range(20)]
    got = await asyncio.gather(*(call(b"", metadata=(("x-request-id", i),)) for i in ids))
    assert [g.decode() for g in got] == ids
    twice = (("x-request-id", "first"), ("x-request-id", "second"))
    assert await call(b"", metadata=twice) == b"second"  # the last one, as before
    made_up = {await call(b"") for _ in range(3)}
    assert len(made_up) == 3
    assert all(len(m) == 36 for m in made_up)


async def test_the_wrapped_handler_is_built_once_per_method() -> None:
    interceptor = ServerInterceptor()
    echo = grpc.unary_unary_rpc_method_handler(_echo_request_id)
    other = grpc.unary_unary_rpc_method_handler(_echo_request_id)
    handlers: dict[str, Any] = {"/test.Echo/RequestId": echo, "/test.Echo/Other": other}

    async def continuation(details: Any) -> Any:
        return handlers.get(details.method)

    def details(method: str, request_id: str) -> Any:
        return SimpleNamespace(method=method, invocation_metadata=(("x-request-id", request_id),))

    first = await interceptor.intercept_service(continuation, details("/test.Echo/RequestId", "a"))
    again = await interceptor.intercept_service(continuation, details("/test.Echo/RequestId", "b"))
    assert first is again
    assert first is not echo
    assert first.unary_unary is not None
    wrapped_other = await interceptor.intercept_service(
        continuation, details("/test.Echo/Other", "a")
    )
    assert wrapped_other is not first
    assert await interceptor.intercept_service(continuation, details("/nope", "a")) is None
    # A method whose handler changed gets a wrapper of the new handler.
    handlers["/test.Echo/RequestId"] = other
    replaced = await interceptor.intercept_service(
        continuation, details("/test.Echo/RequestId", "c")
    )
    assert replaced is not first


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
