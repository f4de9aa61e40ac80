"""The NATS JetStream topology of the execution pipeline.

    tasks (outbox relay) ──Job──▶ VR_REQUESTS ──▶ scheduler (priority lanes, per-user limit)
    scheduler ──Job──▶ VR_JOBS (vr.jobs.<lane>, work queue) ──▶ executors (one durable per lane)
    executor ──ExecutionStarted / ExecutionResult──▶ VR_EVENTS ──▶ tasks, scheduler
    executor ──LogChunk──▶ VR_LOGS (vr.logs.<execution id>) ──▶ gateway (SSE viewers)
    tasks ──Execution id──▶ vr.final.<execution id> (core NATS) ──▶ gateway (?wait=N)
    anyone ──CancelRequest──▶ vr.cancel (core NATS) ──▶ every executor
    scheduler ──Job──▶ VR_DEAD (vr.dead.jobs) after max deliveries

Every publish into a stream carries Nats-Msg-Id so a re-publish is de-duplicated.
"""

from __future__ import annotations

REQUESTS_STREAM = "VR_REQUESTS"
REQUESTS_SUBJECT = "vr.requests"
SCHEDULER_CONSUMER = "scheduler"

JOBS_STREAM = "VR_JOBS"
LANES = ("urgent", "normal", "low")
JOB_SUBJECT_PREFIX = "vr.jobs"

EVENTS_STREAM = "VR_EVENTS"
STARTED_SUBJECT = "vr.events.started"
RESULT_SUBJECT = "vr.events.result"
TASKS_EVENTS_CONSUMER = "tasks-recorder"
SCHEDULER_EVENTS_CONSUMER = "scheduler-tracker"

LOGS_STREAM = "VR_LOGS"
LOG_SUBJECT_PREFIX = "vr.logs"

DEAD_STREAM = "VR_DEAD"
DEAD_SUBJECT = "vr.dead.jobs"

CANCEL_SUBJECT = "vr.cancel"
FINAL_SUBJECT_PREFIX = "vr.final"

MSG_ID_HEADER = "Nats-Msg-Id"


def lane_for_priority(priority: int) -> str:
    """The lane of a task priority (0 to 10, 10 most urgent)."""
    if priority >= 8:
        return "urgent"
    if priority >= 4:
        return "normal"
    return "low"


def job_subject(lane: str) -> str:
    """The subject jobs of `lane` are published on."""
    return f"{JOB_SUBJECT_PREFIX}.{lane}"


def job_consumer(lane: str) -> str:
    """The durable pull consumer all executors share for `lane`."""
    return f"executor-{lane}"


def log_subject(execution_id: str) -> str:
    """Where an execution's log chunks go."""
    return f"{LOG_SUBJECT_PREFIX}.{execution_id}"


def final_subject(execution_id: str) -> str:
    """Where the tasks service announces that an execution reached a final state."""
    return f"{FINAL_SUBJECT_PREFIX}.{execution_id}"


# Executions cancelled before an executor picked them up (key = execution id); executors check it.
CANCELLED_BUCKET = "vr_cancelled"
CANCELLED_TTL_SECONDS = 24 * 3600

# Executors advertise their runtimes here (key = "<runtime>.<executor id>", JSON value), refreshed
# well within the TTL, so the bucket lists what live executors offer.
RUNTIMES_BUCKET = "vr_runtimes"
RUNTIMES_TTL_SECONDS = 60
