"""The JetStream streams, consumers and buckets of the pipeline, declared idempotently.

Every service declares what it touches at start-up, so start order does not matter.
"""

from __future__ import annotations

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from voidrunner.common.jetstream import ensure_key_value, ensure_stream
from voidrunner.contracts import topology as t

DAY = 24 * 3600.0


def jobs_stream() -> StreamConfig:
    """The work queue of jobs, one subject per priority lane."""
    return StreamConfig(
        name=t.JOBS_STREAM,
        subjects=[t.job_subject(lane) for lane in t.LANES],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=120.0,
        max_age=DAY,
    )


def events_stream() -> StreamConfig:
    """Started and result events; read by the tasks service and the scheduler."""
    return StreamConfig(
        name=t.EVENTS_STREAM,
        subjects=[t.STARTED_SUBJECT, t.RESULT_SUBJECT],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        duplicate_window=600.0,
        max_age=DAY,
    )


def logs_stream() -> StreamConfig:
    """Live log chunks per execution, kept an hour for late viewers (the DB keeps the output)."""
    return StreamConfig(
        name=t.LOGS_STREAM,
        subjects=[f"{t.LOG_SUBJECT_PREFIX}.*"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=3600.0,
        max_bytes=1024**3,
        discard=DiscardPolicy.OLD,
        duplicate_window=60.0,
    )


def lane_consumer(lane: str, *, ack_wait: float, max_deliver: int) -> ConsumerConfig:
    """The durable pull consumer every executor shares for one lane."""
    return ConsumerConfig(
        durable_name=t.job_consumer(lane),
        filter_subject=t.job_subject(lane),
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        max_ack_pending=10_000,
    )


def requests_stream() -> StreamConfig:
    """Executions the tasks service accepted (its outbox, relayed), for the scheduler."""
    return StreamConfig(
        name=t.REQUESTS_STREAM,
        subjects=[t.REQUESTS_SUBJECT],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=600.0,
        max_age=7 * DAY,
    )


def dead_stream() -> StreamConfig:
    """Jobs that reached their maximum deliveries, kept for inspection."""
    return StreamConfig(
        name=t.DEAD_STREAM,
        subjects=[t.DEAD_SUBJECT],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=7 * DAY,
        duplicate_window=600.0,
    )


ALL_STREAMS = (requests_stream, jobs_stream, events_stream, logs_stream, dead_stream)


async def declare_streams(js: JetStreamContext) -> None:
    """Every stream of the pipeline (cheap; safe to call from every replica)."""
    for config in ALL_STREAMS:
        await ensure_stream(js, config())


async def cancelled_bucket(js: JetStreamContext) -> KeyValue:
    """The bucket of executions cancelled before they ran (created when missing)."""
    return await ensure_key_value(
        js,
        KeyValueConfig(
            bucket=t.CANCELLED_BUCKET,
            ttl=t.CANCELLED_TTL_SECONDS,
            history=1,
            storage=StorageType.FILE,
        ),
    )


async def runtimes_bucket(js: JetStreamContext) -> KeyValue:
    """The bucket where executors advertise their runtimes (created when missing)."""
    return await ensure_key_value(
        js,
        KeyValueConfig(
            bucket=t.RUNTIMES_BUCKET,
            ttl=t.RUNTIMES_TTL_SECONDS,
            history=1,
            storage=StorageType.MEMORY,
        ),
    )
