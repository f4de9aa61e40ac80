"""The valid-API-keys bucket: key id → KeyEntry, which every gateway watches.

The auth service puts an entry when a key is created and deletes it when the key is revoked,
so a revocation reaches every gateway as fast as a KV update travels. PostgreSQL stays the
source of truth: on start the bucket is rebuilt from it (entries of keys no longer valid are
deleted), so a lost bucket or a write missed during a NATS outage heals on restart and on every
later rebuild.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from voidrunner.common.jetstream import ensure_key_value
from voidrunner.common.logs import get_logger
from voidrunner.contracts.api_keys import KeyEntry

_log = get_logger("voidrunner.auth.key_bucket")


class KeySink(Protocol):
    async def put(self, key_id: uuid.UUID, entry: KeyEntry) -> None: ...
    async def delete(self, key_id: uuid.UUID) -> None: ...


class KvKeys:
    """Writes the valid-keys bucket (created when missing)."""

    def __init__(self, nc: NATS, bucket: str) -> None:
        self._nc = nc
        self._bucket = bucket
        self._kv: KeyValue | None = None

    async def _store(self) -> KeyValue:
        if self._kv is None:
            self._kv = await ensure_key_value(
                self._nc.jetstream(),
                KeyValueConfig(bucket=self._bucket, history=1, storage=StorageType.FILE),
            )
        return self._kv

    async def put(self, key_id: uuid.UUID, entry: KeyEntry) -> None:
        """Best effort: a key created while NATS is away works once the bucket is rebuilt."""
        try:
            kv = await self._store()
            await kv.put(str(key_id), entry.encode())
        except Exception:  # a NATS outage must not fail a key's creation
            _log.warning("api key publish failed", key_id=str(key_id), exc_info=True)

    async def delete(self, key_id: uuid.UUID) -> None:
        """Raises when NATS cannot take it: a revocation that did not reach gateways must
        not be reported as done."""
        kv = await self._store()
        await kv.delete(str(key_id))

    async def rebuild(self, valid: dict[uuid.UUID, KeyEntry]) -> None:
        """Make the bucket hold exactly `valid`."""
        kv = await self._store()
        try:
            present = set(await kv.keys())
        except NoKeysError:
            present = set()
        for key_id, entry in valid.items():
            await kv.put(str(key_id), entry.encode())
        for stale in present - {str(k) for k in valid}:
            try:
                await kv.delete(stale)
            except KeyNotFoundError:
                continue
        _log.info(
            "api key bucket rebuilt", keys=len(valid), removed=len(present - set(map(str, valid)))
        )
