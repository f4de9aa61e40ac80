"""pytest fixtures that run the real services in-process on ephemeral ports.

Each service is started through its own composition root (the same code `make run` uses), on
the per-test database and NATS server from `pytest_plugin`. The gateway is served by a real
uvicorn on a loopback socket and reached over HTTP with httpx.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# Cheap argon2 for tests; production cost is the settings default.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}
# Every test's requests come from 127.0.0.1: limits stay on (and counted) but out of the way;
# rate-limit tests set strict ones through gateway_settings_overrides.
GENEROUS_RATE_LIMIT = 100_000


@pytest.fixture
def auth_settings_overrides() -> dict[str, Any]:
    """Override to change auth settings in one test module."""
    return {}


@pytest.fixture
async def auth_addr(
    database_url: str, nats_url: str, tmp_path: Path, auth_settings_overrides: dict[str, Any]
) -> AsyncIterator[str]:
    """A running auth service (gRPC) on an ephemeral port; yields host:port."""
    from voidrunner.auth.main import AuthApp
    from voidrunner.auth.settings import AuthSettings

    settings = AuthSettings(
        environment="test",
        database_url=database_url,
        nats_url=nats_url,
        auth_grpc_host="127.0.0.1",
        auth_grpc_port=0,
        auth_key_file=tmp_path / "auth" / "key.pem",
        shutdown_grace_seconds=0.5,
        **{**FAST_ARGON2, **auth_settings_overrides},
    )
    app = AuthApp(settings)
    port = await app.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await app.stop()


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    """Override to change tasks settings in one test module."""
    return {}


@pytest.fixture
async def tasks_addr(
    database_url: str, nats_url: str, tasks_settings_overrides: dict[str, Any]
) -> AsyncIterator[str]:
    """A running tasks service (gRPC) on an ephemeral port; yields host:port."""
    from voidrunner.tasks.main import TasksApp
    from voidrunner.tasks.settings import TasksSettings

    settings = TasksSettings(
        environment="test",
        database_url=database_url,
        nats_url=nats_url,
        tasks_grpc_host="127.0.0.1",
        tasks_grpc_port=0,
        db_pool_size=4,
        shutdown_grace_seconds=0.5,
        **tasks_settings_overrides,
    )
    app = TasksApp(settings)
    port = await app.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await app.stop()


@pytest.fixture
def gateway_settings_overrides() -> dict[str, Any]:
    """Override to change gateway settings in one test module."""
    return {}


@pytest.fixture
async def gateway_url(
    auth_addr: str, tasks_addr: str, nats_url: str, gateway_settings_overrides: dict[str, Any]
) -> AsyncIterator[str]:
    """The real gateway served by uvicorn on a loopback port; yields its base URL."""
    import uvicorn

    from voidrunner.gateway.main import build_app, uvicorn_config
    from voidrunner.gateway.settings import GatewaySettings, rate_limits_at

    settings = GatewaySettings(
        environment="test",
        gateway_host="127.0.0.1",
        auth_addr=auth_addr,
        tasks_addr=tasks_addr,
        nats_url=nats_url,
        startup_timeout_seconds=10,
        **{**rate_limits_at(GENEROUS_RATE_LIMIT), **gateway_settings_overrides},
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # asyncio sets TCP_NODELAY only on sockets created with proto=IPPROTO_TCP; accepted ones
    # inherit it from here. Without it every response waits out a 40 ms delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(build_app(settings), settings, port=port))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        if not server.started:
            await task  # surfaces the start-up error
            msg = "gateway did not start"
            raise RuntimeError(msg)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()


@pytest.fixture
async def client(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the gateway."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as c:
        yield c


@pytest.fixture
def executor_settings_overrides() -> dict[str, Any]:
    """Override to change executor settings in one test module."""
    return {}


@pytest.fixture
async def pipeline(
    nats_url: str, tasks_addr: str, executor_settings_overrides: dict[str, Any]
) -> AsyncIterator[Any]:
    """The scheduler and one executor (bwrap sandboxes), in-process; yields the executor app."""
    from voidrunner.executor.main import ExecutorApp
    from voidrunner.executor.settings import ExecutorSettings
    from voidrunner.scheduler.main import SchedulerApp
    from voidrunner.scheduler.settings import SchedulerSettings

    scheduler = SchedulerApp(
        SchedulerSettings(
            environment="test",
            nats_url=nats_url,
            tasks_addr=tasks_addr,
            scheduler_health_host="127.0.0.1",
            scheduler_health_port=0,
            concurrency_retry_seconds=0.2,
        )
    )
    executor = ExecutorApp(
        ExecutorSettings(
            environment="test",
            nats_url=nats_url,
            executor_health_host="127.0.0.1",
            executor_health_port=0,
            heartbeat_seconds=0.5,
            shutdown_grace_seconds=5,
            **executor_settings_overrides,
        )
    )
    await scheduler.start()
    await executor.start()
    try:
        yield executor
    finally:
        await executor.stop()
        await scheduler.stop()
