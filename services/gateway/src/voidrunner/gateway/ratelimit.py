"""Rate limits shared by every gateway replica: fixed-window counters in a NATS KV bucket.

One key per (limit, window, identity): `<limit>.<window index>.<sha256(identity)[:32]>`. A hit
reads the counter and writes count + 1 with compare-and-set (`create` for the first hit of a
window, `update(last=revision)` after), retrying when another replica won the race, so replicas
never lose or double-count a hit. Old windows' keys expire with the bucket's TTL.

Hits on one key inside one replica are coalesced: while a counter update is in flight, further
hits queue and the next update counts them all at once (`count + allowed`, allowing at most what
is left of the limit), and the replica remembers the revision it last wrote, so a hit costs one
compare-and-set round trip when no other replica wrote in between (a stale revision fails and
reads again). Counts never decrease within a window, so a remembered count at the limit may
refuse without asking NATS. A busy user's requests cost a handful of KV operations per round
trip instead of two each plus a retry storm.

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
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voidrunner.common.jetstream import ensure_key_value
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
        # key → (count, revision) this replica last read or wrote, for the current window only.
        self._known: dict[str, tuple[int, int]] = {}
        self._known_window = -1
        # key → hits waiting for the update in flight on that key (see the module docstring).
        self._queues: dict[str, list[asyncio.Future[tuple[bool, int]]]] = {}
        self._flushes: set[asyncio.Task[None]] = set()

    async def hit(self, name: str, identity: str, limit: int) -> Decision:
        """Count one request; LimiterUnavailable when NATS does not answer in time."""
        try:
            return await asyncio.wait_for(self._hit(name, identity, limit), self._timeout)
        except Exception as exc:  # a timeout or any NATS error: the counter is unknown
            self._kv = None
            self._known.clear()
            raise LimiterUnavailable from exc

    async def _hit(self, name: str, identity: str, limit: int) -> Decision:
        now = self._clock()
        window = int(now // self._window)
        reset = max(1, math.ceil((window + 1) * self._window - now))
        if window != self._known_window:  # earlier windows' keys are never written again
            self._known.clear()
            self._known_window = window
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        key = f"{name}.{window}.{digest}"
        waiter: asyncio.Future[tuple[bool, int]] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is None:
            self._queues[key] = queue = [waiter]
            task = asyncio.create_task(self._flush(key, queue, limit))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        else:
            queue.append(waiter)
        allowed, remaining = await waiter
        return Decision(allowed, limit, remaining, reset)

    async def _flush(
        self, key: str, queue: list[asyncio.Future[tuple[bool, int]]], limit: int
    ) -> None:
        """Count the queued hits of `key` in rounds until none is waiting."""
        batch: list[asyncio.Future[tuple[bool, int]]] = []
        try:
            while queue:
                batch = queue[:]
                del queue[:]
                count, allowed = await self._add(key, len(batch), limit)
                for i, waiter in enumerate(batch):
                    if not waiter.done():
                        ok = i < allowed
                        waiter.set_result((ok, max(0, limit - count - i - 1) if ok else 0))
        except Exception as exc:
            for waiter in batch + queue:
                if not waiter.done():
                    waiter.set_exception(exc)
        finally:
            self._queues.pop(key, None)

    async def _add(self, key: str, hits: int, limit: int) -> tuple[int, int]:
        """Add up to `hits` (no more than the limit leaves) to `key`: (count before, added)."""
        kv = await self._bucket_kv()
        known = self._known.pop(key, None)
        for _ in range(MAX_CAS_ATTEMPTS):
            if known is None:
                try:
                    entry = await kv.get(key)
                except KeyNotFoundError:
                    added = min(hits, limit)
                    try:
                        revision = await kv.create(key, str(added).encode())
                    except KeyWrongLastSequenceError:
                        continue  # another replica counted the window's first hit
                    self._known[key] = (added, revision)
                    return 0, added
                known = (int(entry.value or b"0"), entry.revision or 0)
            count, revision = known
            added = max(0, min(hits, limit - count))
            if added == 0:
                self._known[key] = known
                return count, 0
            try:
                revision = await kv.update(key, str(count + added).encode(), last=revision)
            except KeyWrongLastSequenceError:
                known = None  # another replica wrote since: read again
                continue
            self._known[key] = (count + added, revision)
            return count, added
        msg = f"rate limit counter {key.split('.', 1)[0]} stayed contended"
        raise LimiterUnavailable(msg)

    async def _bucket_kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await ensure_key_value(
                self._nc.jetstream(),
                KeyValueConfig(
                    bucket=self._bucket,
                    history=1,
                    ttl=2 * self._window,
                    storage=StorageType.MEMORY,
                ),
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
