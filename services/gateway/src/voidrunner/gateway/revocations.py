"""A live, in-memory copy of the revoked-sessions bucket, kept current by a NATS KV watcher."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client as NATS
from nats.js.errors import BucketNotFoundError

from voidrunner.common.logs import get_logger
from voidrunner.gateway.tokens import RevocationSet

_log = get_logger("voidrunner.gateway.revocations")


class RevocationWatcher(RevocationSet):
    """Watches the bucket the auth service writes; `is_revoked` is a set lookup.

    Entries expire in the bucket after the access-token lifetime; expired session ids are kept
    here harmlessly until restart (a token of such a session has expired by then anyway).
    """

    def __init__(self, nc: NATS, bucket: str) -> None:
        self._nc = nc
        self._bucket = bucket
        self._revoked: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.live = asyncio.Event()

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._revoked

    def start(self) -> None:
        """Start watching in the background; `live` is set once the initial values are loaded."""
        self._task = asyncio.create_task(self._run(), name="revocation-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception:  # NATS hiccups: keep the last known set and watch again
                _log.warning("revocation watch failed; retrying", exc_info=True)
                self.live.clear()
            await asyncio.sleep(1.0)

    async def _watch(self) -> None:
        js = self._nc.jetstream()
        try:
            kv = await js.key_value(self._bucket)
        except BucketNotFoundError:
            _log.info("revocation bucket not created yet", bucket=self._bucket)
            return
        watcher = await kv.watchall()
        try:
            async for entry in watcher:
                if entry is None:  # end of the initial values
                    self.live.set()
                    continue
                # No operation header means a plain put; DEL/PURGE are expiry or removal.
                if entry.operation is None:
                    self._revoked.add(entry.key)
                else:
                    self._revoked.discard(entry.key)
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
