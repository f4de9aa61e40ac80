"""Dependencies routes declare: the current caller and the backend clients (from app.state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Query, Request, Response

from voidrunner.contracts.api_keys import Scope
from voidrunner.contracts.roles import Role
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.metrics import AUTH_FAILURES
from voidrunner.gateway.params import ExecutionId
from voidrunner.gateway.settings import GatewaySettings
from voidrunner.gateway.tokens import InvalidToken, Principal, TokenVerifier

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from voidrunner.gateway.limiter import RateLimiter
    from voidrunner.gateway.live import FinalNotices
    from voidrunner.gateway.policy import PolicyCache
    from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceAsyncStub
    from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceAsyncStub
    from voidrunner.proto.webhooks.v1.webhooks_pb2_grpc import WebhooksServiceAsyncStub


@dataclass(slots=True)
class Backends:
    """What the composition root hands to the app: clients and the verifier."""

    settings: GatewaySettings
    auth: AuthServiceAsyncStub
    tasks: TasksServiceAsyncStub
    verifier: TokenVerifier
    # Served by the tasks process, over the tasks channel.
    webhooks: WebhooksServiceAsyncStub
    # None: no rate limiting (e.g. an app built without NATS).
    limiter: RateLimiter | None = None
    # Live logs, ?wait and runtime listings read NATS; None only in tests of the app alone.
    nc: NATS | None = None
    finals: FinalNotices | None = None
    # The runtime policy, for reporting policy errors beside schema errors (None in app tests).
    policy: PolicyCache | None = None


# Dependencies are `async def` although they never await: FastAPI runs a plain `def` dependency
# in its thread pool, a thread hop per dependency per request that cost more than the work.
# The caller's dependencies read the backends from the request (`backends_of`) rather than
# depending on `backends`: FastAPI solves a shared dependency's whole sub-tree again at every
# place it is named before consulting its cache, ≈ 15 µs each on every request.


def backends_of(request: Request) -> Backends:
    """The backends the composition root put on app.state."""
    found: Backends = request.app.state.backends
    return found


async def backends(request: Request) -> Backends:
    """The backends the composition root put on app.state (as a route's dependency)."""
    return backends_of(request)


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (a JWT or an API key); None
    when absent or malformed."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme != "Bearer" or not token or " " in token:
        return None
    return token


async def current_principal(request: Request) -> Principal:
    """The authenticated caller; 401 with the contract's texts otherwise."""
    deps = backends_of(request)
    token = bearer_token(request)
    if token is None:
        AUTH_FAILURES.labels("missing").inc()
        raise ApiError(401, "authorization header required")
    try:
        principal = deps.verifier.verify(token)
    except InvalidToken:
        AUTH_FAILURES.labels("invalid").inc()
        raise ApiError(401, "Invalid or expired token") from None
    request.state.user_id = str(principal.user_id)
    # The scope's path, not request.url.path: building the URL object costs ≈ 10 µs.
    if required_scope(request.method, request.scope["path"]) not in principal.scopes:
        raise ApiError(403, "Insufficient scope")
    return principal


ADMIN_PREFIX = "/api/v1/admin/"
# Paths under which the `run` scope may change things (creating, starting, cancelling).
_RUN_PREFIXES = ("/api/v1/tasks", "/api/v1/executions", "/api/v1/runs")


def required_scope(method: str, path: str) -> Scope:
    """The scope a request needs: `admin` for the admin routes, `read` to look, `run` to run,
    `manage` for the rest."""
    if path.startswith(ADMIN_PREFIX):
        return Scope.ADMIN
    if method in ("GET", "HEAD"):
        return Scope.READ
    if any(path == p or path.startswith(p + "/") for p in _RUN_PREFIXES):
        return Scope.RUN
    return Scope.MANAGE


async def session_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """The caller, who must have come with a session token (not an API key)."""
    if principal.api_key_id is not None:
        raise ApiError(403, "Insufficient scope")
    return principal


async def admin_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """The caller, who must be an admin (a token's role claim, or an admin key of an admin)."""
    if principal.role != Role.ADMIN:
        raise ApiError(403, "Access denied")
    return principal


AdminUser = Annotated[Principal, Depends(admin_principal)]


async def stream_principal(
    request: Request,
    execution_id: ExecutionId,
    stream_token: Annotated[
        str | None,
        Query(description="A token from POST …/logs/token, for clients that cannot send headers"),
    ] = None,
) -> Principal:
    """The caller of a log stream: by bearer token, or by a stream token for this execution."""
    if stream_token is None:
        return await current_principal(request)
    try:
        principal = backends_of(request).verifier.verify_stream(stream_token, str(execution_id))
    except InvalidToken:
        AUTH_FAILURES.labels("invalid").inc()
        raise ApiError(401, "Invalid or expired token") from None
    request.state.user_id = str(principal.user_id)
    return principal


async def optional_principal(request: Request) -> Principal | None:
    """The caller when a valid bearer token was sent, else None (never an error)."""
    token = bearer_token(request)
    if token is None:
        return None
    try:
        return backends_of(request).verifier.verify(token)
    except InvalidToken:
        return None


async def no_store(response: Response) -> None:
    """For responses that carry tokens: no cache (browser or proxy) may keep them."""
    response.headers["Cache-Control"] = "no-store"


Deps = Annotated[Backends, Depends(backends)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
SessionUser = Annotated[Principal, Depends(session_principal)]
StreamUser = Annotated[Principal, Depends(stream_principal)]
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
