"""The tasks service's execution metrics, observed where the state machine moves an execution.

Labels are the runtime (from the operator's catalog) and the termination reason (a fixed set):
never a user, a task or an execution id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Gauge, Histogram

from voidrunner.contracts.execution import FINAL, Status
from voidrunner.contracts.topology import STARTED_SUBJECT
from voidrunner.tasks.outbox import Outbox
from voidrunner.tasks.repository import ExecutionRecord

# From a few milliseconds (an idle platform) to minutes (a long queue).
_WAIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)

ACCEPTED = Counter(
    "voidrunner_executions_accepted",
    "Executions accepted (queued), by runtime.",
    ["runtime"],
)
STARTED = Counter(
    "voidrunner_executions_started",
    "Executions an executor reported started, by runtime.",
    ["runtime"],
)
FINISHED = Counter(
    "voidrunner_executions_finished",
    "Executions that reached a final state, by runtime and termination reason.",
    ["runtime", "termination_reason"],
)
QUEUE_WAIT = Histogram(
    "voidrunner_execution_queue_wait_seconds",
    "Time from acceptance to an executor's start, by runtime.",
    ["runtime"],
    buckets=_WAIT_BUCKETS,
)
RUN_SECONDS = Histogram(
    "voidrunner_execution_run_seconds",
    "Time from an executor's start to the final state, by runtime.",
    ["runtime"],
    buckets=_RUN_BUCKETS,
)

OUTBOX_PENDING = Gauge(
    "voidrunner_outbox_pending_rows",
    "Accepted executions not yet relayed to NATS (outbox rows unpublished).",
)
OUTBOX_OLDEST = Gauge(
    "voidrunner_outbox_oldest_seconds",
    "Age of the oldest unpublished outbox row (0 when none): the relay's lag.",
)
RECORDER_LAG = Histogram(
    "voidrunner_recorder_lag_seconds",
    "Time from an executor event's arrival in its stream to its recording, by event.",
    ["event"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
OUTBOX_POLL_SECONDS = 5.0


# Webhook deliveries (tasks.webhooks.dispatcher).
WEBHOOK_ATTEMPTS = Counter(
    "voidrunner_webhook_attempts",
    "Webhook delivery attempts, by outcome (delivered, retry, failed).",
    ["outcome"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "voidrunner_webhook_attempt_seconds",
    "Time one webhook attempt took, answered or not.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
WEBHOOK_PENDING = Gauge("voidrunner_webhook_pending_deliveries", "Webhook deliveries still owed.")
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "voidrunner_webhook_endpoints_disabled",
    "Webhook endpoints disabled by the sender, by reason (gone, failing).",
    ["reason"],
)


def accepted(executions: Iterable[ExecutionRecord]) -> None:
    """Count newly queued executions."""
    for execution in executions:
        ACCEPTED.labels(execution.script_type).inc()


def moved(before: Status, after: ExecutionRecord) -> None:
    """Observe one recorded transition from `before` to `after`'s status."""
    status = Status(after.status)
    if status == before:
        return
    runtime = after.script_type
    if status is Status.RUNNING and after.started_at is not None:
        STARTED.labels(runtime).inc()
        QUEUE_WAIT.labels(runtime).observe(_seconds(after.created_at, after.started_at))
    if status in FINAL:
        FINISHED.labels(runtime, after.termination_reason or "unknown").inc()
        if after.started_at is not None and after.completed_at is not None:
            RUN_SECONDS.labels(runtime).observe(_seconds(after.started_at, after.completed_at))


def _seconds(start: dt.datetime, end: dt.datetime) -> float:
    # Clocks of different hosts stamp the two ends: never a negative duration.
    return max(0.0, (end - start).total_seconds())


def recorded(subject: str, stored_at: dt.datetime | None, now: dt.datetime) -> None:
    """Observe how long a recorded event waited in its stream."""
    if stored_at is None:
        return
    event = "started" if subject == STARTED_SUBJECT else "result"
    RECORDER_LAG.labels(event).observe(_seconds(stored_at, now))


async def poll_outbox(outbox: Outbox, stop: asyncio.Event, ready: Callable[[], None]) -> None:
    """Refresh the outbox gauges every OUTBOX_POLL_SECONDS until `stop` (a failed read raises;
    the supervisor restarts the loop)."""
    ready()
    while not stop.is_set():
        pending, oldest = await outbox.lag()
        OUTBOX_PENDING.set(pending)
        OUTBOX_OLDEST.set(oldest)
        try:
            await asyncio.wait_for(stop.wait(), OUTBOX_POLL_SECONDS)
        except TimeoutError:
            continue
