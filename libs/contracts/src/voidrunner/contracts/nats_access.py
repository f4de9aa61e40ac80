"""What each service may do on NATS, derived from the topology the code uses.

Every service connects as its own NATS user (an nkey), and that user may publish and subscribe
to exactly what its code does (plus the JetStream API calls those need), nothing more. The table
is generated from the names in topology.py, so a renamed subject changes code and permissions
together; voidrunner.devstack.nats_config renders it into a nats-server configuration.

In short:
  tasks      declares the streams and shared buckets, relays requests, records events, reads
             spilled outputs, purges spilled inputs and outputs, announces cancels and finals.
  scheduler  declares the streams, moves requests into lanes, tracks results, re-queues and ends
             overdue or dead jobs (on the pipeline's own result subject), keeps in-flight slots.
  executor   pulls its lanes, hears cancels, reads spilled inputs, publishes started/result
             events, log chunks and spilled outputs, advertises its runtimes and its status. It
             cannot read the request stream, events, logs, final notices or the revocation and
             rate-limit buckets, and cannot create, change or delete a stream.
  auth       keeps the revoked-sessions and valid-API-keys buckets.
  gateway    reads live logs and final notices, watches revocations, keeps rate-limit counters,
             reads the advertised runtimes, the executors' status and the lanes' depth.
Each has its own inbox prefix (identities.inbox_prefix): nobody reads another's replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voidrunner.contracts import topology as t
from voidrunner.contracts.identities import ServiceName, inbox_prefix

__all__ = ["Permissions", "permissions"]

_API = "$JS.API"


@dataclass(frozen=True)
class Permissions:
    """Subjects a NATS user may publish to and subscribe to (NATS wildcards)."""

    publish: tuple[str, ...] = field(default=())
    subscribe: tuple[str, ...] = field(default=())

    def __add__(self, other: Permissions) -> Permissions:
        return Permissions(
            _unique(self.publish + other.publish), _unique(self.subscribe + other.subscribe)
        )


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _pub(*subjects: str) -> Permissions:
    return Permissions(publish=subjects)


def _sub(*subjects: str) -> Permissions:
    return Permissions(subscribe=subjects)


def _kv_stream(bucket: str) -> str:
    return f"KV_{bucket}"


def declares(*streams: str) -> Permissions:
    """Create a stream (or bucket) and bring its configuration up to date."""
    return _pub(
        *(f"{_API}.STREAM.{verb}.{s}" for s in streams for verb in ("CREATE", "UPDATE", "INFO"))
    )


def binds(*streams: str) -> Permissions:
    """Look a stream (or bucket) up."""
    return _pub(*(f"{_API}.STREAM.INFO.{s}" for s in streams))


def pulls(stream: str, durable: str) -> Permissions:
    """Create or bind one durable pull consumer, fetch from it and acknowledge its messages."""
    return _pub(
        f"{_API}.CONSUMER.CREATE.{stream}.{durable}",
        f"{_API}.CONSUMER.CREATE.{stream}.{durable}.>",
        f"{_API}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"{_API}.CONSUMER.INFO.{stream}.{durable}",
        f"{_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    )


def follows(stream: str) -> Permissions:
    """Ordered (ephemeral, flow-controlled) consumers: live logs, bucket watches and key lists."""
    return _pub(
        f"{_API}.CONSUMER.CREATE.{stream}",
        f"{_API}.CONSUMER.CREATE.{stream}.>",
        f"{_API}.CONSUMER.DELETE.{stream}.>",
        f"{_API}.CONSUMER.INFO.{stream}.>",
        f"$JS.FC.{stream}.>",
    )


def reads_messages(stream: str) -> Permissions:
    """Read stored messages one at a time (by sequence or subject)."""
    return _pub(
        f"{_API}.STREAM.MSG.GET.{stream}",
        f"{_API}.DIRECT.GET.{stream}",
        f"{_API}.DIRECT.GET.{stream}.>",
    )


def reads_bucket(bucket: str) -> Permissions:
    """Get keys of a KV bucket."""
    return binds(_kv_stream(bucket)) + reads_messages(_kv_stream(bucket))


def watches_bucket(bucket: str) -> Permissions:
    """Get, list and watch keys of a KV bucket."""
    return reads_bucket(bucket) + follows(_kv_stream(bucket))


def writes_bucket(bucket: str) -> Permissions:
    """Put, create, update and delete keys of a KV bucket."""
    return _pub(f"$KV.{bucket}.>")


def owns_bucket(bucket: str) -> Permissions:
    """Declare a KV bucket, and read and write it."""
    return declares(_kv_stream(bucket)) + reads_bucket(bucket) + writes_bucket(bucket)


def _lane_info() -> Permissions:
    """The job lanes' consumer info (pending, in flight): never a fetch or an ack."""
    return _pub(
        *(f"{_API}.CONSUMER.INFO.{t.JOBS_STREAM}.{t.job_consumer(lane)}" for lane in t.LANES)
    )


def _inbox(service: ServiceName) -> Permissions:
    return _sub(f"{inbox_prefix(service)}.>")


_ALL_STREAMS = (
    t.REQUESTS_STREAM,
    t.JOBS_STREAM,
    t.EVENTS_STREAM,
    t.LOGS_STREAM,
    t.DEAD_STREAM,
    t.OUTPUT_STREAM,
    t.INPUTS_STREAM,
)
_SHARED_BUCKETS = (
    _kv_stream(t.CANCELLED_BUCKET),
    _kv_stream(t.RUNTIMES_BUCKET),
    _kv_stream(t.EXECUTORS_BUCKET),
)


def _tasks() -> Permissions:
    return (
        declares(*_ALL_STREAMS, *_SHARED_BUCKETS)
        + _pub(
            t.REQUESTS_SUBJECT,
            f"{t.INPUTS_SUBJECT_PREFIX}.*",
            t.CANCEL_SUBJECT,
            f"{t.FINAL_SUBJECT_PREFIX}.*",
            f"{_API}.STREAM.PURGE.{t.OUTPUT_STREAM}",
            f"{_API}.STREAM.PURGE.{t.INPUTS_STREAM}",
        )
        + pulls(t.EVENTS_STREAM, t.TASKS_EVENTS_CONSUMER)
        + reads_messages(t.OUTPUT_STREAM)
        + writes_bucket(t.CANCELLED_BUCKET)
        + reads_bucket(t.CANCELLED_BUCKET)
    )


def _scheduler() -> Permissions:
    return (
        declares(*_ALL_STREAMS, *_SHARED_BUCKETS)
        + _pub(
            *(t.job_subject(lane) for lane in t.LANES),
            # The reaper queues a lost pending execution's job again.
            t.REQUESTS_SUBJECT,
            f"{t.INPUTS_SUBJECT_PREFIX}.*",
            t.DEAD_SUBJECT,
            t.PIPELINE_RESULT_SUBJECT,
            f"{_API}.STREAM.MSG.DELETE.{t.JOBS_STREAM}",
        )
        + _sub(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{t.JOBS_STREAM}.*")
        + pulls(t.REQUESTS_STREAM, t.SCHEDULER_CONSUMER)
        + pulls(t.EVENTS_STREAM, t.SCHEDULER_EVENTS_CONSUMER)
        + reads_messages(t.JOBS_STREAM)
        # The lanes' lag for its metrics.
        + _lane_info()
        + owns_bucket(t.INFLIGHT_BUCKET)
        + reads_bucket(t.CANCELLED_BUCKET)
    )


def _executor() -> Permissions:
    lanes = Permissions()
    for lane in t.LANES:
        lanes = lanes + pulls(t.JOBS_STREAM, t.job_consumer(lane)) + _sub(t.job_subject(lane))
    return (
        lanes
        + binds(t.JOBS_STREAM, t.INPUTS_STREAM)
        + _pub(
            t.STARTED_SUBJECT,
            t.RESULT_SUBJECT,
            f"{t.LOG_SUBJECT_PREFIX}.*",
            f"{t.OUTPUT_SUBJECT_PREFIX}.*.*",
        )
        + _sub(t.CANCEL_SUBJECT)
        + reads_messages(t.INPUTS_STREAM)
        + reads_bucket(t.CANCELLED_BUCKET)
        + binds(_kv_stream(t.RUNTIMES_BUCKET))
        + writes_bucket(t.RUNTIMES_BUCKET)
        + binds(_kv_stream(t.EXECUTORS_BUCKET))
        + writes_bucket(t.EXECUTORS_BUCKET)
    )


def _auth() -> Permissions:
    # It lists the keys bucket's keys (a watch) when it rebuilds it from PostgreSQL.
    return (
        owns_bucket(t.REVOKED_SESSIONS_BUCKET)
        + owns_bucket(t.API_KEYS_BUCKET)
        + follows(_kv_stream(t.API_KEYS_BUCKET))
    )


def _gateway() -> Permissions:
    return (
        _sub(f"{t.FINAL_SUBJECT_PREFIX}.*")
        + binds(t.LOGS_STREAM)
        + follows(t.LOGS_STREAM)
        + watches_bucket(t.REVOKED_SESSIONS_BUCKET)
        + watches_bucket(t.API_KEYS_BUCKET)
        + owns_bucket(t.RATE_LIMIT_BUCKET)
        + watches_bucket(t.RUNTIMES_BUCKET)
        # The operator's view: the executors' status, and the lanes' depth (consumer info only).
        + watches_bucket(t.EXECUTORS_BUCKET)
        + _lane_info()
    )


_TABLE = {
    ServiceName.TASKS: _tasks,
    ServiceName.SCHEDULER: _scheduler,
    ServiceName.EXECUTOR: _executor,
    ServiceName.AUTH: _auth,
    ServiceName.GATEWAY: _gateway,
}


def permissions(service: ServiceName) -> Permissions:
    """Everything `service` may publish and subscribe to, its own inbox included."""
    return _TABLE[service]() + _inbox(service)
