"""The FastAPI application: middleware, error handlers and routers; no connections made here."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from voidrunner.gateway.deps import Backends
from voidrunner.gateway.errors import install_error_handlers
from voidrunner.gateway.middleware import BodyLimitMiddleware, RequestContextMiddleware
from voidrunner.gateway.ratelimit import RateLimitHeaders
from voidrunner.gateway.routes import auth, executions, health, logs, runtimes, tasks
from voidrunner.gateway.settings import GatewaySettings

Probe = Callable[[], Awaitable[bool]]
EXPOSED_HEADERS = [
    "X-Request-ID",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "Idempotent-Replayed",
]


def create_app(
    settings: GatewaySettings,
    backends: Backends | None = None,
    probes: Mapping[str, Probe] | None = None,
) -> FastAPI:
    """Build the app. `backends` may be set later (by the lifespan) via app.state.backends."""
    app = FastAPI(
        title="VoidRunner API",
        version=settings.version,
        description="Run untrusted code in isolated sandboxes.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.backends = backends
    app.state.version = settings.version
    app.state.started_at = time.monotonic()
    app.state.readiness_probes = dict(probes or {})
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(tasks.router)
    app.include_router(executions.router)
    app.include_router(logs.router)
    app.include_router(runtimes.router)
    # Added last = outermost: request context wraps CORS, which wraps the body limit.
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=settings.cors_methods,
        allow_headers=settings.cors_headers,
        allow_credentials=True,
        expose_headers=EXPOSED_HEADERS,
    )
    app.add_middleware(RequestContextMiddleware)
    return app
