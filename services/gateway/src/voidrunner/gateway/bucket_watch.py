"""Following a NATS KV bucket into memory: the one watch loop behind the gateway's live copies
(revoked sessions, valid API keys)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.aio.client import Client as NATS
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from voidrunner.common.logs import get_logger

_log = get_logger("voidrunner.gateway.bucket_watch")
# How often a missing bucket is looked for again.
POLL_SECONDS = 1.0


async def watch_bucket(
    nc: NATS,
    bucket: str,
    on_entry: Callable[[KeyValue.Entry], None],
    stop: asyncio.Event,
    ready: Callable[[], None],
) -> None:
    """Call `on_entry` for every value of `bucket`, then for every change, until `stop`;
    `ready()` once the initial values are in.

    Waits while the bucket does not exist yet (the auth service creates it). A failing watch
    raises, keeping what was applied: the gateway's supervisor watches again.
    """
    js = nc.jetstream()
    while True:
        try:
            kv = await js.key_value(bucket)
            break
        except BucketNotFoundError:
            _log.info("bucket not created yet", bucket=bucket)
            await asyncio.sleep(POLL_SECONDS)
    watcher = await kv.watchall()
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while True:
            # Racing the stop event: a watch holds nothing to drain, so it ends at once.
            update = asyncio.ensure_future(anext(watcher))
            await asyncio.wait({update, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not update.done():
                update.cancel()  # a queue read: cancelling it loses no update
                return
            try:
                entry = update.result()
            except StopAsyncIteration:
                msg = f"the watch of bucket {bucket} ended"
                raise ConnectionError(msg) from None
            if entry is None:  # end of the initial values
                ready()
            else:
                on_entry(entry)
    finally:
        stopping.cancel()
        await watcher.stop()  # type: ignore[no-untyped-call]
