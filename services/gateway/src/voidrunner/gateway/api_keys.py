"""API keys at the gateway: a live copy of the valid-keys bucket, and "last used" batching.

The auth service publishes every valid key (id → contracts.api_keys.KeyEntry) to a NATS KV
bucket; the watcher keeps it in memory, so checking a key is a dict lookup and a SHA-256, and a
revoked key (deleted from the bucket) stops working as soon as the deletion arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue

from voidrunner.common.logs import get_logger
from voidrunner.common.supervision import Loop, Supervisor
from voidrunner.contracts.api_keys import KeyEntry, parse_key, secret_hash
from voidrunner.gateway.bucket_watch import watch_bucket
from voidrunner.gateway.settings import GatewaySettings
from voidrunner.gateway.tokens import ApiKeySet
from voidrunner.proto.auth.v1 import auth_pb2

if TYPE_CHECKING:
    from voidrunner.proto.auth.v1.auth_pb2_grpc import AuthServiceAsyncStub

_log = get_logger("voidrunner.gateway.api_keys")


class ApiKeyWatcher(ApiKeySet):
    """Watches the valid-keys bucket; `lookup` finds the key a bearer token names."""

    def __init__(self, nc: NATS, bucket: str) -> None:
        self._nc = nc
        self._bucket = bucket
        self._keys: dict[str, KeyEntry] = {}
        self.used: set[str] = set()

    def lookup(self, token: str, now: dt.datetime) -> tuple[str, KeyEntry] | None:
        """(key id, entry) of a valid, unexpired key whose secret matches, else None."""
        parsed = parse_key(token)
        if parsed is None:
            return None
        key_id, secret = str(parsed[0]), parsed[1]
        entry = self._keys.get(key_id)
        if entry is None:
            return None
        if not hmac.compare_digest(secret_hash(secret), entry.secret_hash):
            return None
        if entry.expires_at is not None and entry.expires_at <= now:
            return None
        self.used.add(key_id)
        return key_id, entry

    async def watch(self, stop: asyncio.Event, ready: Callable[[], None]) -> None:
        """Keep the copy current until `stop`; `ready()` once the initial values are loaded."""
        await watch_bucket(self._nc, self._bucket, self._apply, stop, ready)

    def _apply(self, entry: KeyValue.Entry) -> None:
        if entry.operation is not None or not entry.value:  # DEL / PURGE: revoked
            self._keys.pop(entry.key, None)
            return
        try:
            self._keys[entry.key] = KeyEntry.decode(entry.value)
        except (ValueError, KeyError, TypeError):
            _log.warning("malformed api key entry", key_id=entry.key)
            self._keys.pop(entry.key, None)


async def report_use(
    watcher: ApiKeyWatcher,
    auth: AuthServiceAsyncStub,
    interval: float,
    rpc_timeout: float,
    stop: asyncio.Event,
) -> None:
    """Every `interval`, tell the auth service which keys were used (one call for all)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if not watcher.used:
            continue
        ids, watcher.used = sorted(watcher.used), set()
        at = Timestamp()
        at.FromDatetime(dt.datetime.now(dt.UTC))
        try:
            await auth.TouchApiKeys(
                auth_pb2.TouchApiKeysRequest(ids=ids, at=at), timeout=rpc_timeout
            )
        except Exception:
            watcher.used.update(ids)  # tried again next round
            raise


def supervise_api_keys(
    loops: Supervisor,
    connected: Callable[[], Awaitable[object]],
    watcher: ApiKeyWatcher,
    auth: AuthServiceAsyncStub,
    settings: GatewaySettings,
) -> None:
    """Add the bucket watch (ready after the initial values) and the use reports to `loops`."""

    async def watch(loop: Loop) -> None:
        await connected()
        await watcher.watch(loop.stop, loop.ready)

    async def touch(loop: Loop) -> None:
        await report_use(
            watcher, auth, settings.api_key_touch_seconds, settings.rpc_timeout_seconds, loop.stop
        )

    loops.add("api_keys", watch, signals_ready=True)
    loops.add("api_key_use", touch)
