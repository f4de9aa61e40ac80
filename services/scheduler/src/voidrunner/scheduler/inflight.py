"""Per-user in-flight executions, shared by every scheduler replica through a NATS KV bucket.

Key `u.<user>` holds {execution id: expiry (unix seconds)}; a result names its user, so releasing
a slot reads and writes that one key. (Keys `e.<execution>`, mapping back to the user, were
written by earlier versions; a result without a user still looks there.) Updates use
compare-and-set on the key's revision, so replicas never lose each other's writes. Entries carry
an expiry (the run's deadline plus a grace) and are dropped when counting, so a lost result cannot
hold a slot forever.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Protocol

from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from voidrunner.common.jetstream import ensure_key_value
from voidrunner.contracts.topology import INFLIGHT_BUCKET

__all__ = ["INFLIGHT_BUCKET", "InflightTracker"]
CAS_ATTEMPTS = 50


class StoredValue(Protocol):
    """One key's value as the bucket returns it (None for a deleted key)."""

    @property
    def value(self) -> bytes | None: ...

    @property
    def revision(self) -> int | None: ...


class SlotStore(Protocol):
    """What the tracker needs of its bucket (a NATS KV bucket): reads and compare-and-set writes.

    `get` raises KeyNotFoundError for a missing key; `create` and `update(last=...)` raise
    KeyWrongLastSequenceError (or an APIError with code 10071) when another writer won.
    """

    async def get(self, key: str) -> StoredValue: ...

    async def create(self, key: str, value: bytes) -> int: ...

    async def update(self, key: str, value: bytes, last: int | None = None) -> int: ...

    async def delete(self, key: str) -> bool: ...


class InflightTracker:
    """Admits an execution when its user has a free slot; releases it on the final result."""

    def __init__(self, kv: SlotStore, limit: int, clock: Callable[[], float] = time.time) -> None:
        self._kv = kv
        self._limit = limit
        self._clock = clock

    @classmethod
    async def open(cls, js: JetStreamContext, limit: int) -> InflightTracker:
        """Bind to (or create) the bucket."""
        config = KeyValueConfig(bucket=INFLIGHT_BUCKET, history=1, storage=StorageType.FILE)
        return cls(await ensure_key_value(js, config), limit)

    async def _read(self, key: str) -> tuple[dict[str, float], int | None]:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return {}, None
        if entry.value is None:  # a deleted key
            return {}, entry.revision
        try:
            data = json.loads(entry.value)
        except ValueError:
            data = {}
        return (
            {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}
        ), entry.revision

    async def _write(self, key: str, value: dict[str, float], revision: int | None) -> bool:
        payload = json.dumps(value).encode()
        try:
            if revision is None:
                await self._kv.create(key, payload)
            else:
                await self._kv.update(key, payload, last=revision)
        except (KeyWrongLastSequenceError, Exception) as exc:
            if _is_conflict(exc):
                return False
            raise
        return True

    async def try_admit(self, user_id: str, execution_id: str, expires_at: float) -> bool:
        """Reserve a slot for `execution_id`; False when the user is at the limit.

        Admitting an execution that already holds a slot succeeds (redelivered requests).
        """
        key = f"u.{user_id}"
        for _ in range(CAS_ATTEMPTS):
            current, revision = await self._read(key)
            now = self._clock()
            live = {k: v for k, v in current.items() if v > now}
            if execution_id not in live and len(live) >= self._limit:
                if live != current:  # still prune, so the bucket does not grow
                    await self._write(key, live, revision)
                return False
            live[execution_id] = expires_at
            if await self._write(key, live, revision):
                return True
        msg = f"could not update in-flight slots of user {user_id}: too much contention"
        raise RuntimeError(msg)

    async def release(self, execution_id: str, user_id: str) -> None:
        """Free the slot `execution_id` holds in `user_id`'s (unknown ids are ignored).

        An empty `user_id` (a result from an earlier executor) is looked up under `e.<id>`.
        """
        legacy = not user_id
        if legacy:
            try:
                owner = await self._kv.get(f"e.{execution_id}")
            except KeyNotFoundError:
                return
            if owner.value is None:
                return
            user_id = owner.value.decode()
        key = f"u.{user_id}"
        for _ in range(CAS_ATTEMPTS):
            current, revision = await self._read(key)
            if execution_id not in current:
                break
            current.pop(execution_id)
            if await self._write(key, current, revision):
                break
        if legacy:
            await self._kv.delete(f"e.{execution_id}")

    async def count(self, user_id: str) -> int:
        """Live in-flight executions of `user_id`."""
        current, _ = await self._read(f"u.{user_id}")
        now = self._clock()
        return sum(1 for v in current.values() if v > now)


def _is_conflict(exc: Exception) -> bool:
    # nats-py reports a failed compare-and-set as KeyWrongLastSequenceError, or (for create on
    # an existing key) as a generic APIError with code 10071 "wrong last sequence".
    if isinstance(exc, KeyWrongLastSequenceError):
        return True
    return getattr(exc, "err_code", None) == 10071
