"""A live, in-memory copy of the revoked-sessions bucket, kept current by a NATS KV watcher."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue

from voidrunner.gateway.bucket_watch import watch_bucket
from voidrunner.gateway.tokens import RevocationSet


class RevocationWatcher(RevocationSet):
    """Watches the bucket the auth service writes; `is_revoked` is a set lookup.

    Entries expire in the bucket after the access-token lifetime; expired session ids are kept
    here harmlessly until restart (a token of such a session has expired by then anyway).
    """

    def __init__(self, nc: NATS, bucket: str) -> None:
        self._nc = nc
        self._bucket = bucket
        self._revoked: set[str] = set()

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._revoked

    async def watch(self, stop: asyncio.Event, ready: Callable[[], None]) -> None:
        """Keep the copy current until `stop`; `ready()` once the initial values are loaded."""
        await watch_bucket(self._nc, self._bucket, self._apply, stop, ready)

    def _apply(self, entry: KeyValue.Entry) -> None:
        # No operation header means a plain put; DEL/PURGE are expiry or removal.
        if entry.operation is None:
            self._revoked.add(entry.key)
        else:
            self._revoked.discard(entry.key)
