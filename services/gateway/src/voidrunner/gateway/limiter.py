"""Fixed-window counters shared by every gateway replica, in a NATS KV bucket.

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
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from voidrunner.common.jetstream import ensure_key_value

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

    async def hit(self, name: str, identity: str, limit: int, cost: int = 1) -> Decision:
        """Count one request (as `cost` hits: a batch of runs counts each run); all of them or
        none. LimiterUnavailable when NATS does not answer in time."""
        try:
            return await asyncio.wait_for(self._hit(name, identity, limit, cost), self._timeout)
        except Exception as exc:  # a timeout or any NATS error: the counter is unknown
            self._kv = None
            self._known.clear()
            raise LimiterUnavailable from exc

    async def _hit(self, name: str, identity: str, limit: int, cost: int) -> Decision:
        now = self._clock()
        window = int(now // self._window)
        reset = max(1, math.ceil((window + 1) * self._window - now))
        if window != self._known_window:  # earlier windows' keys are never written again
            self._known.clear()
            self._known_window = window
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        key = f"{name}.{window}.{digest}"
        if cost > 1:  # rare (batches): counted on its own, all or nothing
            count, added = await self._add(key, cost, limit, whole=True)
            allowed = added == cost
            return Decision(allowed, limit, max(0, limit - count - added), reset)
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

    async def _add(
        self, key: str, hits: int, limit: int, *, whole: bool = False
    ) -> tuple[int, int]:
        """Add up to `hits` (no more than the limit leaves; with `whole`, all or none) to
        `key`: (count before, added)."""
        kv = await self._bucket_kv()
        known = self._known.pop(key, None)
        for _ in range(MAX_CAS_ATTEMPTS):
            if known is None:
                try:
                    entry = await kv.get(key)
                except KeyNotFoundError:
                    added = min(hits, limit)
                    if whole and added < hits:
                        return 0, 0
                    try:
                        revision = await kv.create(key, str(added).encode())
                    except KeyWrongLastSequenceError:
                        continue  # another replica counted the window's first hit
                    self._known[key] = (added, revision)
                    return 0, added
                known = (int(entry.value or b"0"), entry.revision or 0)
            count, revision = known
            added = max(0, min(hits, limit - count))
            if whole and added < hits:
                added = 0
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
