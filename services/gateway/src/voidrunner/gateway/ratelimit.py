"""Rate limits shared by every gateway replica: route dependencies and the RateLimit-* headers.

The counting lives in `limiter` (fixed windows in a NATS KV bucket, shared by the replicas).

If NATS does not answer within `rate_limit_timeout_seconds`, the request is let through with a
logged warning (fail open, configurable): the limits protect capacity and slow brute force,
while auth and tasks keep working without NATS; refusing every request during a NATS outage
would turn a degraded limiter into a full API outage. `rate_limit_fail_open=false` refuses
with 503 instead, for operators who prefer that trade.

Identity: user limits key on the authenticated user id (their dependency runs after the bearer
token is verified, so rejected auth never consumes a user's quota); IP limits on the client
address as uvicorn reports it (honouring X-Forwarded-For only from its trusted proxies).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voidrunner.common.logs import get_logger
from voidrunner.gateway.deps import Backends, CurrentUser, StreamUser, backends_of
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.limiter import Decision, LimiterUnavailable, RateLimiter
from voidrunner.gateway.metrics import RATE_LIMITED

_log = get_logger("voidrunner.gateway.ratelimit")
STATE_KEY = "rate_limit"


async def enforce(
    request: Request, deps: Backends, name: str, identity: str, cost: int = 1
) -> None:
    """Count this request (as `cost` hits) against limit `name`; 429 when exceeded."""
    settings = deps.settings
    limiter: RateLimiter | None = deps.limiter
    if limiter is None or not settings.rate_limit_enabled:
        return
    limit: int = getattr(settings, f"rate_limit_{name}")
    try:
        decision = await limiter.hit(name, identity, limit, cost)
    except LimiterUnavailable:
        if settings.rate_limit_fail_open:
            _log.warning("rate limiter unavailable; allowing request", limit=name)
            return
        raise ApiError(
            503, "Service temporarily unavailable", headers={"Retry-After": "1"}
        ) from None
    request.state.rate_limit = decision
    if not decision.allowed:
        RATE_LIMITED.labels(name).inc()
        raise ApiError(
            429,
            "Rate limit exceeded",
            headers={"Retry-After": str(decision.reset_seconds)},
            extra={"retry_after": decision.reset_seconds},
        )


def per_user(name: str) -> Any:
    """A dependency counting the authenticated caller against limit `name` (after auth)."""

    async def dependency(request: Request, principal: CurrentUser) -> None:
        await enforce(request, backends_of(request), name, f"user:{principal.user_id}")

    return Depends(dependency)


def per_stream_user(name: str) -> Any:
    """`per_user` for a log stream, whose caller may have come with a stream token."""

    async def dependency(request: Request, principal: StreamUser) -> None:
        await enforce(request, backends_of(request), name, f"user:{principal.user_id}")

    return Depends(dependency)


async def counted_in_route() -> None:
    """Marks a route whose handler calls `enforce` itself (its cost depends on its body), so
    that its documentation carries the rate limit's responses and headers like the others."""


def per_ip(name: str) -> Any:
    """A dependency counting the client address against limit `name`."""

    async def dependency(request: Request) -> None:
        host = request.client.host if request.client else "unknown"
        await enforce(request, backends_of(request), name, f"ip:{host}")

    return Depends(dependency)


class RateLimitHeaders:
    """Adds RateLimit-Limit/-Remaining/-Reset to any response of a rate-limited request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            decision = state.get(STATE_KEY)
            if message["type"] == "http.response.start" and isinstance(decision, Decision):
                headers = list(message.get("headers", []))
                headers += [
                    (b"ratelimit-limit", str(decision.limit).encode()),
                    (b"ratelimit-remaining", str(decision.remaining).encode()),
                    (b"ratelimit-reset", str(decision.reset_seconds).encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
