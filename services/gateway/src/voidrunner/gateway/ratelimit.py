"""Rate limits shared by every gateway replica: fixed-window counters in a NATS KV bucket.

One key per (limit, window, identity): `<limit>.<window index>.<sha256(identity)[:32]>`. A hit
reads the counter and writes count + 1 with compare-and-set (`create` for the first hit of a
window, `update(last=revision)` after), retrying when another replica won the race, so replicas
never lose or double-count a hit. Old windows' keys expire with the bucket's TTL.

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

import asyncio
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voidrunner.common.logs import get_logger
from voidrunner.gateway.deps import CurrentUser, Deps
from voidrunner.gateway.errors import ApiError

_log = get_logger("voidrunner.gateway.ratelimit")
STATE_KEY = "rate_limit"
MAX_CAS_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one hit, with what the RateLimit-* headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


class LimiterUnavailable(Exception):
    """NATS did not answer in time (or at all)."""


class RateLimiter:
    """Counts hits per (limit name, identity) in fixed windows of `window_seconds`."""

    def __init__(
        self,
        nc: NATS,
        *,
        bucket: str,
        window_seconds: int,
        timeout_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._nc = nc
        self._bucket = bucket
        self._window = window_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._kv: KeyValue | None = None

    async def hit(self, name: str, identity: str, limit: int) -> Decision:
        """Count one request; LimiterUnavailable when NATS does not answer in time."""
        try:
            return await asyncio.wait_for(self._hit(name, identity, limit), self._timeout)
        except Exception as exc:  # a timeout or any NATS error: the counter is unknown
            self._kv = None
            raise LimiterUnavailable from exc

    async def _hit(self, name: str, identity: str, limit: int) -> Decision:
        now = self._clock()
        window = int(now // self._window)
        reset = max(1, math.ceil((window + 1) * self._window - now))
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        key = f"{name}.{window}.{digest}"
        kv = await self._bucket_kv()
        for _ in range(MAX_CAS_ATTEMPTS):
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                try:
                    await kv.create(key, b"1")
                except KeyWrongLastSequenceError:
                    continue  # another replica counted the window's first hit
                return Decision(True, limit, max(0, limit - 1), reset)
            count = int(entry.value or b"0")
            if count >= limit:
                return Decision(False, limit, 0, reset)
            try:
                await kv.update(key, str(count + 1).encode(), last=entry.revision)
            except KeyWrongLastSequenceError:
                continue  # lost the race: read again
            return Decision(True, limit, max(0, limit - count - 1), reset)
        msg = f"rate limit counter {name} stayed contended"
        raise LimiterUnavailable(msg)

    async def _bucket_kv(self) -> KeyValue:
        if self._kv is None:
            js = self._nc.jetstream()
            try:
                self._kv = await js.key_value(self._bucket)
            except BucketNotFoundError:
                # Replicas racing here create the same config, which JetStream accepts.
                self._kv = await js.create_key_value(
                    KeyValueConfig(
                        bucket=self._bucket,
                        history=1,
                        ttl=2 * self._window,
                        storage=StorageType.MEMORY,
                    )
                )
        return self._kv


async def enforce(request: Request, deps: Deps, name: str, identity: str) -> None:
    """Count this request against limit `name`; 429 when exceeded."""
    settings = deps.settings
    limiter: RateLimiter | None = deps.limiter
    if limiter is None or not settings.rate_limit_enabled:
        return
    limit: int = getattr(settings, f"rate_limit_{name}")
    try:
        decision = await limiter.hit(name, identity, limit)
    except LimiterUnavailable:
        if settings.rate_limit_fail_open:
            _log.warning("rate limiter unavailable; allowing request", limit=name)
            return
        raise ApiError(
            503, "Service temporarily unavailable", headers={"Retry-After": "1"}
        ) from None
    request.state.rate_limit = decision
    if not decision.allowed:
        raise ApiError(
            429,
            "Rate limit exceeded",
            headers={"Retry-After": str(decision.reset_seconds)},
            extra={"retry_after": decision.reset_seconds},
        )


def per_user(name: str) -> Any:
    """A dependency counting the authenticated caller against limit `name` (after auth)."""

    async def dependency(request: Request, principal: CurrentUser, deps: Deps) -> None:
        await enforce(request, deps, name, f"user:{principal.user_id}")

    return Depends(dependency)


def per_ip(name: str) -> Any:
    """A dependency counting the client address against limit `name`."""

    async def dependency(request: Request, deps: Deps) -> None:
        host = request.client.host if request.client else "unknown"
        await enforce(request, deps, name, f"ip:{host}")

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
