"""grpc.health.v1 on a real server, following a supervisor whose loop a test breaks and heals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from voidrunner.common.grpc_server import GrpcServer, insecure_channel
from voidrunner.common.supervision import Backoff, Loop, Supervisor

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Switch:
    """A loop that serves while `healthy` is set and crashes while it is not."""

    healthy: asyncio.Event

    async def __call__(self, loop: Loop) -> None:
        if not self.healthy.is_set():
            raise ConnectionError("dependency away")
        loop.ready()
        while not loop.stop.is_set() and self.healthy.is_set():
            await asyncio.sleep(0.01)
        if not loop.stop.is_set():
            raise ConnectionError("dependency lost")


@dataclass
class Running:
    stub: health_pb2_grpc.HealthStub
    server: GrpcServer
    supervisor: Supervisor
    switch: Switch


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    switch = Switch(asyncio.Event())
    supervisor = Supervisor(Backoff(initial=0.01, maximum=0.05, jitter=0.0))
    supervisor.add("dispatch", switch, signals_ready=True)
    supervisor.start()
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        registrations=[],
        service_names=["test.Svc"],
        health=supervisor,
    )
    port = await server.start()
    channel = insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(health_pb2_grpc.HealthStub(channel), server, supervisor, switch)
    finally:
        await channel.close(None)
        await server.stop(0.1)
        await supervisor.stop(1.0)


async def check(stub: health_pb2_grpc.HealthStub, service: str = "") -> int:
    resp = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
    return int(resp.status)


async def until(stub: health_pb2_grpc.HealthStub, status: int) -> None:
    for _ in range(500):
        if await check(stub) == status:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"health never became {status}")


async def test_every_name_follows_the_loops(running: Running) -> None:
    stub = running.stub
    assert await check(stub) == NOT_SERVING  # the loop has not come up yet
    assert await check(stub, "test.Svc") == NOT_SERVING
    running.switch.healthy.set()
    await until(stub, SERVING)
    assert await check(stub, "test.Svc") == SERVING
    listed = await stub.List(health_pb2.HealthListRequest(), timeout=2)
    assert {n: s.status for n, s in listed.statuses.items()} == {
        "": SERVING,
        "test.Svc": SERVING,
        "liveness": SERVING,
    }

    running.switch.healthy.clear()  # the loop crashes and keeps crashing
    await until(stub, NOT_SERVING)
    assert await check(stub, "test.Svc") == NOT_SERVING
    assert await check(stub, "liveness") == SERVING  # alive: nothing a restart would fix
    assert running.supervisor.health()["dispatch"].last_error == "ConnectionError: dependency lost"
    running.switch.healthy.set()
    await until(stub, SERVING)


async def test_unknown_names_are_not_found(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await check(running.stub, "no.Such")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_watch_streams_each_change(running: Running) -> None:
    call = running.stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
    seen = [(await call.read()).status]
    running.switch.healthy.set()
    seen.append((await call.read()).status)
    running.switch.healthy.clear()
    seen.append((await call.read()).status)
    await running.server.stop(0.1)  # shutting down: NOT_SERVING, and the stream ends
    rest = []
    while (resp := await call.read()) is not grpc.aio.EOF:  # type: ignore[attr-defined]  # not in grpc-stubs
        rest.append(resp.status)
    assert seen == [NOT_SERVING, SERVING, NOT_SERVING]
    assert rest in ([], [NOT_SERVING])


async def test_stopping_reports_not_serving(running: Running) -> None:
    running.switch.healthy.set()
    await until(running.stub, SERVING)
    await running.supervisor.stop(1.0)
    assert await check(running.stub) == NOT_SERVING
    assert await check(running.stub, "liveness") == SERVING
    await running.server.stop(0.1)  # draining: not alive for new work either
    with pytest.raises(grpc.aio.AioRpcError):
        await check(running.stub, "liveness")


async def test_without_a_source_the_server_serves_while_running() -> None:
    server = GrpcServer(host="127.0.0.1", port=0, registrations=[], service_names=[])
    port = await server.start()
    channel = insecure_channel(f"127.0.0.1:{port}")
    try:
        assert await check(health_pb2_grpc.HealthStub(channel)) == SERVING
    finally:
        await channel.close(None)
        await server.stop(0.1)
