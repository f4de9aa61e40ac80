"""The gateway's composition root: channels, keys, revocation watcher, then the app."""

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
from nats.aio.client import Client as NATS

from voidrunner.common.grpc_server import insecure_channel
from voidrunner.common.logs import configure_logging, get_logger
from voidrunner.common.nats_client import connect_nats, drain_nats
from voidrunner.gateway.app import create_app
from voidrunner.gateway.deps import Backends
from voidrunner.gateway.live import FinalNotices
from voidrunner.gateway.ratelimit import RateLimiter
from voidrunner.gateway.revocations import RevocationWatcher
from voidrunner.gateway.routes.health import grpc_health_probe
from voidrunner.gateway.settings import GatewaySettings
from voidrunner.gateway.tokens import PublishedKeys, TokenVerifier
from voidrunner.proto.auth.v1 import auth_pb2
from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceStub
from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceStub

if TYPE_CHECKING:
    from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceAsyncStub

_log = get_logger("voidrunner.gateway")


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
            )
        except grpc.aio.AioRpcError as exc:
            if time.monotonic() > deadline:
                raise
            _log.info("waiting for the auth service", code=exc.code().name)
            await asyncio.sleep(0.5)


def build_app(settings: GatewaySettings) -> FastAPI:
    """The app with a lifespan that connects everything on start and closes it on stop."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        auth_channel = insecure_channel(settings.auth_addr)
        tasks_channel = insecure_channel(settings.tasks_addr)
        nc: NATS | None = None
        watcher: RevocationWatcher | None = None
        finals: FinalNotices | None = None
        try:
            auth = AuthServiceStub(auth_channel)
            keys = await fetch_keys(auth, settings.startup_timeout_seconds)
            nc = await connect_nats(settings.nats_url, name="voidrunner-gateway")
            watcher = RevocationWatcher(nc, keys.revocation_bucket)
            watcher.start()
            finals = FinalNotices(nc)
            await finals.start()
            app.state.backends = Backends(
                settings=settings,
                auth=auth,
                tasks=TasksServiceStub(tasks_channel),
                verifier=TokenVerifier(keys, watcher),
                nc=nc,
                finals=finals,
                limiter=RateLimiter(
                    nc,
                    bucket=settings.rate_limit_bucket,
                    window_seconds=settings.rate_limit_window_seconds,
                    timeout_seconds=settings.rate_limit_timeout_seconds,
                ),
            )
            connected = nc

            async def nats_ok() -> bool:
                return connected.is_connected

            async def revocations_ok() -> bool:
                return watcher is not None and watcher.live.is_set()

            app.state.readiness_probes.update(
                auth=grpc_health_probe(health_pb2_grpc.HealthStub(auth_channel)),
                tasks=grpc_health_probe(health_pb2_grpc.HealthStub(tasks_channel)),
                nats=nats_ok,
                revocations=revocations_ok,
            )
            yield
        finally:
            if finals is not None:
                await finals.stop()
            if watcher is not None:
                await watcher.stop()
            if nc is not None:
                await drain_nats(nc)
            await auth_channel.close(None)
            await tasks_channel.close(None)

    app = create_app(settings)
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
