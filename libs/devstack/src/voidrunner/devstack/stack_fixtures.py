"""pytest fixtures that run the real services in-process on ephemeral ports.

Each service is started through its own composition root (the same code `make run` uses), on
the per-test database and NATS server from `pytest_plugin`, and handed to the test once its
supervised loops are up (a service's start returns before its loops have bound their consumers).
The gateway is served by a real uvicorn on a loopback socket and reached over HTTP with httpx.

Each fixture is a thin wrapper over an async context manager of the same service
(`auth_service`, `tasks_service`, `gateway_service`, `pipeline_service`), and `whole_stack`
runs them all: a module that shares one stack between its tests (say, one per sandbox backend)
builds it from those, on a database from `pytest_plugin.DatabaseSupply.database`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from voidrunner.common.grpc_server import insecure_channel, service_channel
from voidrunner.common.service_tokens import ServiceSigner
from voidrunner.common.supervision import Supervisor
from voidrunner.devstack.credentials import Credentials

if TYPE_CHECKING:
    from voidrunner.executor.main import ExecutorApp

# Cheap argon2 for tests; production cost is the settings default.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}
# Each test stops its services, and a stopping consumer waits for its last idle fetch to end.
TEST_IDLE_FETCH_SECONDS = 0.05
# Every test's requests come from 127.0.0.1: limits stay on (and counted) but out of the way;
# rate-limit tests set strict ones through gateway_settings_overrides.
GENEROUS_RATE_LIMIT = 100_000


# Seals webhook signing secrets in every tasks service of this session.
SESSION_WEBHOOK_KEY = base64.b64encode(os.urandom(32)).decode()


def channel_as(creds: Credentials, caller: str, target: str, audience: str) -> grpc.aio.Channel:
    """A channel to the `audience` service at `target` whose calls come from `caller`."""
    signer = ServiceSigner.from_file(caller, creds.service_key(caller))
    return service_channel(target, signer, audience)


async def until_healthy(loops: Supervisor, what: str, seconds: float = 15.0) -> None:
    """Wait until every supervised loop of `what` is up; fail naming those that are not."""
    deadline = time.monotonic() + seconds
    while not loops.healthy():
        if time.monotonic() > deadline:
            down = {n: h.last_error for n, h in loops.health().items() if not h.up}
            msg = f"{what}: loops not up after {seconds} s: {down}"
            raise RuntimeError(msg)
        await asyncio.sleep(0.01)


async def health_of(address: str, service: str = "") -> str:
    """The grpc.health.v1 status of `service` at `address`, by name ("SERVING", "NOT_SERVING")."""
    channel = insecure_channel(address)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            # Generous: on a loaded machine (coverage, two cores) the first call may be slow;
            # the tests read the status, not the latency.
            resp = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
        return name
    finally:
        await channel.close(None)


async def until_health(address: str, status: str, seconds: float = 30.0, service: str = "") -> None:
    """Wait until `address` reports `status` for `service`; fail with the last status seen."""
    deadline = time.monotonic() + seconds
    while (seen := await health_of(address, service)) != status:
        if time.monotonic() > deadline:
            msg = f"{address} still reports {seen}, not {status}, after {seconds} s"
            raise AssertionError(msg)
        await asyncio.sleep(0.02)


@asynccontextmanager
async def auth_service(
    database_url: str,
    nats_url: str,
    creds: Credentials,
    key_file: Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    wait_for_loops: bool = True,
) -> AsyncIterator[str]:
    """A running auth service (gRPC) on an ephemeral port; yields host:port."""
    from voidrunner.auth.main import AuthApp
    from voidrunner.auth.settings import AuthSettings

    settings = AuthSettings(
        environment="test",
        database_url=creds.database_url(database_url, "auth"),
        nats_url=nats_url,
        auth_grpc_host="127.0.0.1",
        auth_grpc_port=0,
        auth_key_file=key_file,
        shutdown_grace_seconds=0.5,
        **{**creds.identity("auth"), **FAST_ARGON2, **(overrides or {})},
    )
    app = AuthApp(settings)
    port = await app.start()
    try:
        if wait_for_loops:
            await until_healthy(app.loops, "auth")
        yield f"127.0.0.1:{port}"
    finally:
        await app.stop()


@asynccontextmanager
async def tasks_service(
    database_url: str,
    nats_url: str,
    creds: Credentials,
    overrides: Mapping[str, Any] | None = None,
    *,
    wait_for_loops: bool = True,
) -> AsyncIterator[str]:
    """A running tasks service (gRPC) on an ephemeral port; yields host:port."""
    from voidrunner.tasks.main import TasksApp
    from voidrunner.tasks.settings import TasksSettings

    settings = TasksSettings(
        environment="test",
        database_url=creds.database_url(database_url, "tasks"),
        nats_url=nats_url,
        tasks_grpc_host="127.0.0.1",
        tasks_grpc_port=0,
        db_pool_size=4,
        shutdown_grace_seconds=0.5,
        jetstream_idle_fetch_seconds=TEST_IDLE_FETCH_SECONDS,
        # No test sends DNS queries or webhooks off the machine: webhook URLs in tests are IP
        # literals on an allow-listed loopback receiver, and fuzzed public ones are refused.
        webhook_resolve_names=False,
        webhook_allow_listed_only=True,
        # One per test session, as a deployment has one.
        webhook_secret_key=SESSION_WEBHOOK_KEY,
        **{**creds.identity("tasks"), **(overrides or {})},
    )
    app = TasksApp(settings)
    port = await app.start()
    try:
        if wait_for_loops:
            await until_healthy(app.loops, "tasks")
        yield f"127.0.0.1:{port}"
    finally:
        await app.stop()


def _prompt_server_class() -> type[Any]:
    import uvicorn

    class PromptServer(uvicorn.Server):
        """uvicorn's server, noticing `should_exit` within 10 ms rather than 100 ms: every
        test stops a gateway, and waited half that tick on average."""

        async def main_loop(self) -> None:
            counter = 0
            while not await self.on_tick(counter):
                # on_tick refreshes the Date header when counter % 10 == 0: ten times a second.
                counter = (counter + 1) % 864000
                await asyncio.sleep(0.01)

    return PromptServer


@asynccontextmanager
async def gateway_service(
    auth_addr: str,
    tasks_addr: str,
    nats_url: str,
    creds: Credentials,
    web_dir: Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    wait_for_loops: bool = True,
) -> AsyncIterator[str]:
    """The real gateway served by uvicorn on a loopback port, with the web UI from `web_dir`;
    yields its base URL."""

    from voidrunner.gateway.main import build_app, uvicorn_config
    from voidrunner.gateway.settings import GatewaySettings, rate_limits_at

    settings = GatewaySettings(
        environment="test",
        gateway_host="127.0.0.1",
        auth_addr=auth_addr,
        tasks_addr=tasks_addr,
        nats_url=nats_url,
        startup_timeout_seconds=10,
        **{
            **creds.identity("gateway"),
            "web_dir": web_dir,
            **rate_limits_at(GENEROUS_RATE_LIMIT),
            **(overrides or {}),
        },
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # asyncio sets TCP_NODELAY only on sockets created with proto=IPPROTO_TCP; accepted ones
    # inherit it from here. Without it every response waits out a 40 ms delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = build_app(settings)
    server = _prompt_server_class()(uvicorn_config(app, settings, port=port))
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
        if wait_for_loops:
            await until_healthy(app.state.loops, "gateway")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()


@asynccontextmanager
async def pipeline_service(
    nats_url: str,
    tasks_addr: str,
    creds: Credentials,
    executor_overrides: Mapping[str, Any] | None = None,
    scheduler_overrides: Mapping[str, Any] | None = None,
) -> AsyncIterator[ExecutorApp]:
    """The scheduler and one executor (bwrap sandboxes unless `executor_overrides` say
    otherwise), in-process, their loops up; yields the executor app."""
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
            jetstream_idle_fetch_seconds=TEST_IDLE_FETCH_SECONDS,
            **{**creds.identity("scheduler"), **(scheduler_overrides or {})},
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
            **{**creds.identity("executor"), **(executor_overrides or {})},
        )
    )
    await scheduler.start()
    await executor.start()
    try:
        await until_healthy(scheduler.loops, "scheduler")
        await until_healthy(executor.loops, "executor")
        yield executor
    finally:
        await executor.stop()
        await scheduler.stop()


@dataclass(frozen=True, slots=True)
class Stack:
    """A whole running stack: the gateway's base URL and the executor behind it."""

    url: str
    executor: ExecutorApp


@asynccontextmanager
async def whole_stack(
    database_url: str,
    nats_url: str,
    creds: Credentials,
    work_dir: Path,
    web_dir: Path,
    executor_overrides: Mapping[str, Any] | None = None,
) -> AsyncIterator[Stack]:
    """Auth, tasks, the gateway, the scheduler and one executor on `database_url` and
    `nats_url`, as the fixtures run them; everything stops on the way out."""
    async with AsyncExitStack() as services:
        auth = await services.enter_async_context(
            auth_service(database_url, nats_url, creds, work_dir / "auth" / "key.pem")
        )
        tasks = await services.enter_async_context(tasks_service(database_url, nats_url, creds))
        url = await services.enter_async_context(
            gateway_service(auth, tasks, nats_url, creds, web_dir)
        )
        executor = await services.enter_async_context(
            pipeline_service(nats_url, tasks, creds, executor_overrides)
        )
        yield Stack(url, executor)


@pytest.fixture
def services_wait_for_loops() -> bool:
    """Override with False in a module whose services start while NATS is away: the fixtures
    then hand them over at once instead of waiting for their loops to come up."""
    return True


@pytest.fixture
def auth_settings_overrides() -> dict[str, Any]:
    """Override to change auth settings in one test module."""
    return {}


@pytest.fixture
async def auth_addr(
    database_url: str,
    nats_url: str,
    service_credentials: Credentials,
    tmp_path: Path,
    auth_settings_overrides: dict[str, Any],
    services_wait_for_loops: bool,
) -> AsyncIterator[str]:
    """A running auth service (gRPC) on an ephemeral port; yields host:port."""
    async with auth_service(
        database_url,
        nats_url,
        service_credentials,
        tmp_path / "auth" / "key.pem",
        auth_settings_overrides,
        wait_for_loops=services_wait_for_loops,
    ) as addr:
        yield addr


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    """Override to change tasks settings in one test module."""
    return {}


@pytest.fixture
async def tasks_addr(
    database_url: str,
    nats_url: str,
    service_credentials: Credentials,
    tasks_settings_overrides: dict[str, Any],
    services_wait_for_loops: bool,
) -> AsyncIterator[str]:
    """A running tasks service (gRPC) on an ephemeral port; yields host:port."""
    async with tasks_service(
        database_url,
        nats_url,
        service_credentials,
        tasks_settings_overrides,
        wait_for_loops=services_wait_for_loops,
    ) as addr:
        yield addr


@pytest.fixture
def gateway_settings_overrides() -> dict[str, Any]:
    """Override to change gateway settings in one test module."""
    return {}


@pytest.fixture
async def gateway_url(
    auth_addr: str,
    tasks_addr: str,
    nats_url: str,
    service_credentials: Credentials,
    gateway_settings_overrides: dict[str, Any],
    services_wait_for_loops: bool,
    pytestconfig: pytest.Config,
) -> AsyncIterator[str]:
    """The real gateway served by uvicorn on a loopback port, with the web UI as `make web`
    built it (web/dist); yields its base URL."""
    async with gateway_service(
        auth_addr,
        tasks_addr,
        nats_url,
        service_credentials,
        pytestconfig.rootpath / "web" / "dist",
        gateway_settings_overrides,
        wait_for_loops=services_wait_for_loops,
    ) as url:
        yield url


@pytest.fixture
async def client(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the gateway.

    It reuses a connection only while it has been idle under 2 s: uvicorn closes idle ones at
    5 s, httpx keeps them 5 s too, and a request sent on one as it closes fails with "Server
    disconnected without sending a response".
    """
    limits = httpx.Limits(keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30, limits=limits) as c:
        yield c


@pytest.fixture
def executor_settings_overrides() -> dict[str, Any]:
    """Override to change executor settings in one test module."""
    return {}


@pytest.fixture
def scheduler_settings_overrides() -> dict[str, Any]:
    """SchedulerSettings fields a test module sets for the pipeline's scheduler."""
    return {}


@pytest.fixture
async def pipeline(
    nats_url: str,
    tasks_addr: str,
    service_credentials: Credentials,
    executor_settings_overrides: dict[str, Any],
    scheduler_settings_overrides: dict[str, Any],
) -> AsyncIterator[Any]:
    """The scheduler and one executor (bwrap sandboxes), in-process; yields the executor app."""
    async with pipeline_service(
        nats_url,
        tasks_addr,
        service_credentials,
        executor_settings_overrides,
        scheduler_settings_overrides,
    ) as executor:
        yield executor
