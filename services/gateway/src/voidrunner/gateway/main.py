"""The gateway's composition root: channels, keys, revocation watcher, then the app.

The NATS connection, the revocation watch and the final-notice subscription run under one
supervisor: the gateway starts while NATS is away and connects when it comes; GET /ready
answers 503 naming each of them that is down, and each dependency (auth, tasks) that is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import grpc
import uvicorn
from fastapi import FastAPI
from grpc_health.v1 import health_pb2_grpc

from voidrunner.common.grpc_server import service_channel
from voidrunner.common.logs import configure_logging, get_logger
from voidrunner.common.metrics_endpoint import MetricsEndpoint
from voidrunner.common.service_identity import nats_for, signer_from
from voidrunner.common.supervision import Loop, supervisor_for
from voidrunner.common.tracing import Tracing
from voidrunner.contracts.identities import ServiceName, inbox_prefix
from voidrunner.contracts.topology import RATE_LIMIT_BUCKET
from voidrunner.gateway.api_keys import ApiKeyWatcher, supervise_api_keys
from voidrunner.gateway.app import create_app
from voidrunner.gateway.deps import Backends
from voidrunner.gateway.limiter import RateLimiter
from voidrunner.gateway.live import FinalNotices
from voidrunner.gateway.policy import PolicyCache
from voidrunner.gateway.revocations import RevocationWatcher
from voidrunner.gateway.routes.health import grpc_health_probe, loop_probe
from voidrunner.gateway.settings import GatewaySettings
from voidrunner.gateway.tokens import PublishedKeys, TokenVerifier
from voidrunner.proto.auth.v1 import auth_pb2
from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceStub
from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceStub
from voidrunner.proto.webhooks.v1.webhooks_pb2_grpc import WebhooksServiceStub

if TYPE_CHECKING:
    from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceAsyncStub

_log = get_logger("voidrunner.gateway")
# How long the gateway's loops get to return on shutdown (they hold nothing to drain).
LOOP_GRACE_SECONDS = 2.0


async def fetch_keys(auth: AuthServiceAsyncStub, wait_seconds: float) -> PublishedKeys:
    """The auth service's public keys, retrying until it answers or `wait_seconds` pass."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            resp = await auth.GetPublicKeys(auth_pb2.GetPublicKeysRequest(), timeout=2.0)
            return PublishedKeys.from_pems(
                {k.kid: k.public_key_pem for k in resp.keys},
                issuer=resp.issuer,
                audience=resp.audience,
                revocation_bucket=resp.revocation_bucket,
                api_keys_bucket=resp.api_keys_bucket,
            )
        except grpc.aio.AioRpcError as exc:
            if time.monotonic() > deadline:
                raise
            _log.info("waiting for the auth service", code=exc.code().name)
            await asyncio.sleep(0.5)


def build_app(settings: GatewaySettings) -> FastAPI:
    """The app with a lifespan that connects everything on start and closes it on stop."""
    tracing = Tracing.configure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        signer = signer_from(settings, ServiceName.GATEWAY)
        auth_channel = service_channel(settings.auth_addr, signer, ServiceName.AUTH)
        tasks_channel = service_channel(settings.tasks_addr, signer, ServiceName.TASKS)
        loops = supervisor_for(settings)
        nats = nats_for(
            settings,
            settings.nats_url,
            client_name="voidrunner-gateway",
            inbox_prefix=inbox_prefix(ServiceName.GATEWAY),
        )
        app.state.loops = loops
        metrics = app.state.metrics = MetricsEndpoint(settings.metrics_host, settings.metrics_port)
        try:
            metrics.start()
            auth = AuthServiceStub(auth_channel)
            keys = await fetch_keys(auth, settings.startup_timeout_seconds)
            watcher = RevocationWatcher(nats.client, keys.revocation_bucket)
            key_watcher = ApiKeyWatcher(nats.client, keys.api_keys_bucket)
            finals = FinalNotices(nats.client, tracing=tracing)
            tasks = TasksServiceStub(tasks_channel)
            # `nc` and `finals` stay None (routes answer 503) until NATS is connected.
            backends = Backends(
                settings=settings,
                auth=auth,
                tasks=tasks,
                webhooks=WebhooksServiceStub(tasks_channel),
                policy=PolicyCache(tasks, timeout=settings.rpc_timeout_seconds),
                verifier=TokenVerifier(keys, watcher, api_keys=key_watcher),
                limiter=RateLimiter(
                    nats.client,
                    bucket=RATE_LIMIT_BUCKET,
                    window_seconds=settings.rate_limit_window_seconds,
                    timeout_seconds=settings.rate_limit_timeout_seconds,
                ),
            )
            app.state.backends = backends

            async def watch_revocations(loop: Loop) -> None:
                await nats.connected()
                await watcher.watch(loop.stop, loop.ready)

            async def follow_final_notices(loop: Loop) -> None:
                nc = await nats.connected()
                await finals.start()
                backends.nc, backends.finals = nc, finals
                loop.ready()
                try:
                    await loop.stop.wait()
                finally:
                    await finals.stop()

            loops.add("nats", nats.run, signals_ready=True)
            loops.add("revocations", watch_revocations, signals_ready=True)
            supervise_api_keys(loops, nats.connected, key_watcher, auth, settings)
            loops.add("final_notices", follow_final_notices, signals_ready=True)
            loops.start()
            app.state.readiness_probes.update(
                auth=grpc_health_probe(health_pb2_grpc.HealthStub(auth_channel)),
                tasks=grpc_health_probe(health_pb2_grpc.HealthStub(tasks_channel)),
                **{name: loop_probe(loops, name) for name in loops.health()},
            )
            yield
        finally:
            await loops.stop(LOOP_GRACE_SECONDS)
            metrics.stop()
            await nats.drain()
            await auth_channel.close(None)
            await tasks_channel.close(None)
            await tracing.shutdown()

    app = create_app(settings, tracing=tracing)
    app.router.lifespan_context = lifespan
    return app


def _server_options(settings: GatewaySettings, port: int | None) -> dict[str, Any]:
    """uvicorn on uvloop + httptools, with our logging left alone."""
    return {
        "host": settings.gateway_host,
        "port": settings.gateway_port if port is None else port,
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        # The client address feeds per-IP rate limits: X-Forwarded-For is believed only from
        # the proxies the operator names (uvicorn would trust any loopback peer by default).
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or None,
    }


def uvicorn_config(
    app: FastAPI, settings: GatewaySettings, port: int | None = None
) -> uvicorn.Config:
    """uvicorn on uvloop + httptools, with our logging left alone."""
    return uvicorn.Config(app, **_server_options(settings, port))


def app_from_environment() -> FastAPI:
    """The app of one uvicorn worker process (uvicorn_workers > 1), built from the environment."""
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    return build_app(settings)


def main() -> None:
    """Entry point of the gateway process."""
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    if settings.uvicorn_workers > 1:
        # Worker processes share the listening socket; each has its own channels, NATS
        # connection and revocation watch (rate limits are shared through NATS anyway).
        uvicorn.run(
            f"{__name__}:app_from_environment",
            factory=True,
            workers=settings.uvicorn_workers,
            **_server_options(settings, None),
        )
        return
    uvicorn.Server(uvicorn_config(build_app(settings), settings)).run()
