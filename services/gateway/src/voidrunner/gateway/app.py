"""The FastAPI application: middleware, error handlers and routers; no connections made here."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter

from voidrunner.common.tracing import TRACING_OFF, Tracing
from voidrunner.gateway import docs
from voidrunner.gateway.cors import JsonCORSMiddleware
from voidrunner.gateway.deps import Backends
from voidrunner.gateway.errors import install_error_handlers
from voidrunner.gateway.json_bodies import JsonBodyMiddleware
from voidrunner.gateway.middleware import BodyLimitMiddleware, RequestContextMiddleware
from voidrunner.gateway.openapi import install_openapi
from voidrunner.gateway.ratelimit import RateLimitHeaders
from voidrunner.gateway.routes import (
    admin,
    api_keys,
    auth,
    executions,
    health,
    logs,
    runs,
    runtimes,
    session,
    shares,
    tasks,
    webhooks,
)
from voidrunner.gateway.settings import GatewaySettings
from voidrunner.gateway.ui import WebUI

Probe = Callable[[], Awaitable[bool]]
# Routes whose bodies may carry files (see BodyLimitMiddleware).
FILE_ROUTES = (
    re.compile(r"/api/v1/tasks(/[^/]+)?"),
    re.compile(r"/api/v1/runs(/batch)?"),
)
EXPOSED_HEADERS = [
    "X-Request-ID",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "Idempotent-Replayed",
    "Location",
]


def operation_id(route: APIRoute) -> str:
    """The route's function name (`create_task`): short, stable ids for generated clients."""
    return route.name


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, each a route of the app itself (they carry their full path, tags,
    responses and dependencies from the router already).

    Not `include_router`: FastAPI keeps an included router as one route that, for every request,
    matches the path against each of its routes twice (once to choose the router, again to
    choose the route), through a layer of scope bookkeeping; over our thirteen routers that was
    a fifth of the gateway's own time per request. The app's routes are matched once each.
    What including would still have added is the app's operation ids (`operation_id`).
    """
    for route in router.routes:
        if isinstance(route, APIRoute) and route.operation_id is None:
            route.operation_id = route.unique_id = operation_id(route)
    app.router.routes.extend(router.routes)


def create_app(
    settings: GatewaySettings,
    backends: Backends | None = None,
    probes: Mapping[str, Probe] | None = None,
    tracing: Tracing = TRACING_OFF,
) -> FastAPI:
    """Build the app. `backends` may be set later (by the lifespan) via app.state.backends."""
    app = FastAPI(
        title="VoidRunner API",
        version=settings.version,
        description="Run untrusted code in isolated sandboxes.",
        # /docs is our own page (docs.py): FastAPI's loads Swagger UI from a CDN.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        openapi_url="/openapi.json",
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.backends = backends
    app.state.version = settings.version
    app.state.started_at = time.monotonic()
    app.state.readiness_probes = dict(probes or {})
    install_error_handlers(app)
    # The busiest routes first: a request is matched against the routes in order. No two
    # modules' paths overlap (unit/test_route_order.py), so the order changes no answer.
    for module in (
        executions,
        tasks,
        runs,
        logs,
        runtimes,
        shares,
        webhooks,
        auth,
        api_keys,
        session,
        admin,
        health,
        docs,
    ):
        add_routes(app, module.router)
    install_openapi(app)
    if settings.web_dir is not None:
        # What no route matches: the web UI's pages and files, else the usual JSON 404.
        app.router.default = WebUI(settings.web_dir, app.router.default)
    # Added last = outermost: request context wraps CORS, which wraps the body limit, which
    # reads the body (bounded) before the JSON-body rules look at its type.
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        larger=[(pattern, settings.max_files_body_bytes) for pattern in FILE_ROUTES],
    )
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=settings.cors_methods,
        allow_headers=settings.cors_headers,
        allow_credentials=True,
        expose_headers=EXPOSED_HEADERS,
    )
    app.add_middleware(RequestContextMiddleware, tracing=tracing)
    return app
