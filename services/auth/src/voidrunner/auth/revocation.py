"""Publishing revoked sessions to a NATS KV bucket that every gateway watches.

A logged-out (or reuse-detected) session's id goes into the bucket; gateways keep the bucket's
keys in memory through a watcher, so checking a token costs a set lookup, not a gRPC call.
Entries expire with the bucket's TTL (the access-token lifetime plus a margin), after which no
access token of that session is valid anyway. The database stays the source of truth: a sync
loop re-publishes recent revocations, so a NATS outage during a logout is healed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from voidrunner.common.jetstream import ensure_key_value
from voidrunner.common.logs import get_logger

_log = get_logger("voidrunner.auth.revocation")


# How much longer than an access token's life a revocation is kept: a token is checked against
# the bucket until it expires, with room for clock skew.
REVOCATION_MARGIN = dt.timedelta(seconds=60)


class RevocationSink(Protocol):
    async def publish(self, session_id: uuid.UUID, revoked_at: dt.datetime) -> None: ...


class KvRevocations:
    """Writes revoked session ids into the revocation bucket (created when missing)."""

    def __init__(self, nc: NATS, bucket: str, ttl: dt.timedelta) -> None:
        self._nc = nc
        self._bucket = bucket
        self._ttl = ttl
        self._kv: KeyValue | None = None

    async def ensure_bucket(self) -> None:
        """Create the bucket now so gateways can start watching before the first logout."""
        await self._store()

    async def _store(self) -> KeyValue:
        if self._kv is None:
            self._kv = await ensure_key_value(
                self._nc.jetstream(),
                KeyValueConfig(
                    bucket=self._bucket,
                    ttl=self._ttl.total_seconds(),
                    history=1,
                    storage=StorageType.FILE,
                ),
            )
        return self._kv

    async def publish(self, session_id: uuid.UUID, revoked_at: dt.datetime) -> None:
        """Best effort now; the sync loop repeats it until the bucket has it."""
        if not self._nc.is_connected:
            _log.warning(
                "nats unavailable; revocation left to the sync", session_id=str(session_id)
            )
            return
        try:
            kv = await self._store()
            await kv.put(str(session_id), revoked_at.isoformat().encode())
        except Exception:  # a NATS outage must not fail a logout; sync heals it
            _log.warning("revocation publish failed", session_id=str(session_id), exc_info=True)


class RevocationSync:
    """Re-publishes sessions revoked within the access-token lifetime, every `interval`."""

    def __init__(
        self,
        sink: RevocationSink,
        load: _RecentRevocations,
        window: dt.timedelta,
        interval: float,
    ) -> None:
        self._sink = sink
        self._load = load
        self._window = window
        self._interval = interval

    async def sync_once(self) -> int:
        """Publish every recent revocation; returns how many."""
        since = dt.datetime.now(dt.UTC) - self._window
        recent = await self._load(since)
        for session_id, revoked_at in recent:
            await self._sink.publish(session_id, revoked_at)
        return len(recent)

    async def run(self, stop: asyncio.Event) -> None:
        """Sync until `stop` is set."""
        while not stop.is_set():
            try:
                await self.sync_once()
            except Exception:  # the loop outlives database hiccups
                _log.warning("revocation sync failed", exc_info=True)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
            except TimeoutError:
                continue


class _RecentRevocations(Protocol):
    async def __call__(self, since: dt.datetime) -> list[tuple[uuid.UUID, dt.datetime]]: ...
