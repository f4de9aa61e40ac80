"""Reading a whole KV bucket of advertisements (runtimes, executors' status) once, by key."""

from __future__ import annotations

from nats.aio.client import Client as NATS
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoKeysError


async def bucket_values(nc: NATS, bucket: str) -> list[bytes]:
    """The non-empty values of `bucket`'s live keys, in key order (none when the bucket does
    not exist yet; a key that expires between listing and reading is skipped)."""
    try:
        kv = await nc.jetstream().key_value(bucket)
        keys = await kv.keys()
    except (BucketNotFoundError, NoKeysError):
        return []
    values = []
    for key in sorted(keys):
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            continue
        if entry.value:
            values.append(entry.value)
    return values
