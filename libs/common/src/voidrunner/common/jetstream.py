"""Idempotent JetStream set-up: every process declares the streams it needs at start-up."""

from __future__ import annotations

from nats.js.api import KeyValueConfig, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from voidrunner.common.logs import get_logger

_log = get_logger("voidrunner.jetstream")


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or update it when it exists with another configuration.

    Several replicas of several services declare the same streams concurrently; creating an
    existing stream with an identical config succeeds, a different one is updated in place.
    """
    try:
        await js.add_stream(config)
        return
    except BadRequestError as exc:
        if exc.err_code != 10058:  # stream name already in use with a different configuration
            raise
    try:
        await js.update_stream(config)
    except NotFoundError:  # deleted in between: create it after all
        await js.add_stream(config)
    _log.info("stream updated", stream=config.name)


async def ensure_key_value(js: JetStreamContext, config: KeyValueConfig) -> KeyValue:
    """Bind to the bucket, creating it with `config` when it does not exist yet.

    Replicas racing to create it with the same configuration all succeed (JetStream accepts an
    identical re-create), so no start order is needed.
    """
    try:
        return await js.key_value(config.bucket)
    except BucketNotFoundError:
        return await js.create_key_value(config)
