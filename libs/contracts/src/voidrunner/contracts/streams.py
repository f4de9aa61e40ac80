"""The JetStream streams, consumers and buckets of the pipeline, declared idempotently.

The tasks service and the scheduler declare the streams and shared buckets at start-up (either
may come first); executors may not (see nats_access) and bind to what is there, retrying until
it is. Buckets a service keeps for itself (in-flight slots, rate limits, revocations) are
declared by that service.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

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
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from voidrunner.common.jetstream import ensure_key_value, ensure_stream
from voidrunner.common.logs import get_logger
from voidrunner.contracts import topology as t

_log = get_logger("voidrunner.streams")
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
        subjects=[t.STARTED_SUBJECT, t.RESULT_SUBJECT, t.PIPELINE_RESULT_SUBJECT],
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


def output_stream() -> StreamConfig:
    """Outputs too large to travel inside their result, in parts, until the tasks service
    stored them (it then purges them). Kept as long as the results themselves, on disk: this is
    the durable path of what ends up stored, never a memory-only one."""
    return StreamConfig(
        name=t.OUTPUT_STREAM,
        subjects=[f"{t.OUTPUT_SUBJECT_PREFIX}.*.*"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=DAY,
        max_msg_size=t.OUTPUT_PART_BYTES + 4096,
        duplicate_window=600.0,
    )


def inputs_stream() -> StreamConfig:
    """Job inputs too large to travel inside their job, in parts, kept as long as requests
    are (a job may wait that long), purged once the execution's result is recorded."""
    return StreamConfig(
        name=t.INPUTS_STREAM,
        subjects=[f"{t.INPUTS_SUBJECT_PREFIX}.*"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=7 * DAY,
        max_msg_size=t.OUTPUT_PART_BYTES + 4096,
        duplicate_window=600.0,
    )


ALL_STREAMS = (
    requests_stream,
    jobs_stream,
    events_stream,
    logs_stream,
    dead_stream,
    output_stream,
    inputs_stream,
)


async def declare_streams(js: JetStreamContext) -> None:
    """Every stream of the pipeline (cheap; safe to call from every replica)."""
    for config in ALL_STREAMS:
        await ensure_stream(js, config())


async def declare_pipeline(js: JetStreamContext) -> None:
    """Every stream and shared bucket of the pipeline (for the tasks service and scheduler)."""
    await declare_streams(js)
    await cancelled_bucket(js)
    await runtimes_bucket(js)
    await executors_bucket(js)


async def bind_bucket(js: JetStreamContext, bucket: str) -> KeyValue:
    """A bucket that another service declares; BucketNotFoundError until it has."""
    return await js.key_value(bucket)


async def wait_for_pipeline(
    js: JetStreamContext, stop: asyncio.Event, poll_seconds: float = 0.5
) -> bool:
    """Wait until the streams and buckets an executor binds to are declared (by the tasks
    service or the scheduler). False when `stop` came first."""
    waiting_logged = False
    while not stop.is_set():
        try:
            for stream in (t.JOBS_STREAM, t.INPUTS_STREAM):
                await js.stream_info(stream)
            for bucket in (t.CANCELLED_BUCKET, t.RUNTIMES_BUCKET, t.EXECUTORS_BUCKET):
                await js.key_value(bucket)
            return True
        except (NotFoundError, BucketNotFoundError):
            if not waiting_logged:
                _log.info("waiting for the pipeline's streams (the tasks service declares them)")
                waiting_logged = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_seconds)
    return False


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
    return await _advertisement_bucket(js, t.RUNTIMES_BUCKET, t.RUNTIMES_TTL_SECONDS)


async def executors_bucket(js: JetStreamContext) -> KeyValue:
    """The bucket where executors put their status (created when missing)."""
    return await _advertisement_bucket(js, t.EXECUTORS_BUCKET, t.EXECUTORS_TTL_SECONDS)


async def _advertisement_bucket(js: JetStreamContext, bucket: str, ttl: float) -> KeyValue:
    # In memory: what live executors say of themselves is said again within the TTL.
    return await ensure_key_value(
        js, KeyValueConfig(bucket=bucket, ttl=ttl, history=1, storage=StorageType.MEMORY)
    )


@dataclass(frozen=True, slots=True)
class LaneDepth:
    """A job lane as its consumer's info shows it."""

    lane: str
    # Jobs no executor has taken yet (the consumer's lag).
    pending: int
    # Delivered to an executor and not yet settled.
    in_flight: int
    redelivered: int


async def lane_depths(js: JetStreamContext) -> list[LaneDepth]:
    """Every job lane's depth; a lane whose consumer no executor has created yet reads 0."""
    found = []
    for lane in t.LANES:
        try:
            info = await js.consumer_info(t.JOBS_STREAM, t.job_consumer(lane))
        except NotFoundError:
            found.append(LaneDepth(lane, 0, 0, 0))
            continue
        found.append(
            LaneDepth(
                lane,
                pending=info.num_pending or 0,
                in_flight=info.num_ack_pending or 0,
                redelivered=info.num_redelivered or 0,
            )
        )
    return found
