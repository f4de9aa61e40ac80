"""Dependencies routes declare: the current caller and the backend clients (from app.state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.settings import GatewaySettings
from voidrunner.gateway.tokens import InvalidToken, Principal, TokenVerifier

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from voidrunner.gateway.live import FinalNotices
    from voidrunner.gateway.ratelimit import RateLimiter
    from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceAsyncStub
    from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceAsyncStub


@dataclass(slots=True)
class Backends:
    """What the composition root hands to the app: clients and the verifier."""

    settings: GatewaySettings
    auth: AuthServiceAsyncStub
    tasks: TasksServiceAsyncStub
    verifier: TokenVerifier
    # None: no rate limiting (e.g. an app built without NATS).
    limiter: RateLimiter | None = None
    # Live logs, ?wait and runtime listings read NATS; None only in tests of the app alone.
    nc: NATS | None = None
    finals: FinalNotices | None = None


# Dependencies are `async def` although they never await: FastAPI runs a plain `def` dependency
# in its thread pool, a thread hop per dependency per request that cost more than the work.


async def backends(request: Request) -> Backends:
    """The backends the composition root put on app.state."""
    found: Backends = request.app.state.backends
    return found


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <jwt>` header; None when absent or malformed."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme != "Bearer" or not token or " " in token:
        return None
    return token


async def current_principal(
    request: Request, deps: Annotated[Backends, Depends(backends)]
) -> Principal:
    """The authenticated caller; 401 with the contract's texts otherwise."""
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "authorization header required")
    try:
        principal = deps.verifier.verify(token)
    except InvalidToken:
        raise ApiError(401, "Invalid or expired token") from None
    request.state.user_id = str(principal.user_id)
    return principal


async def optional_principal(
    request: Request, deps: Annotated[Backends, Depends(backends)]
) -> Principal | None:
    """The caller when a valid bearer token was sent, else None (never an error)."""
    token = bearer_token(request)
    if token is None:
        return None
    try:
        return deps.verifier.verify(token)
    except InvalidToken:
        return None


Deps = Annotated[Backends, Depends(backends)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
