"""The NATS JetStream topology of the execution pipeline.

    tasks (outbox relay) ──Job──▶ VR_REQUESTS ──▶ scheduler (priority lanes, per-user limit)
    scheduler ──Job──▶ VR_JOBS (vr.jobs.<lane>, work queue) ──▶ executors (one durable per lane)
    executor ──ExecutionStarted / ExecutionResult──▶ VR_EVENTS ──▶ tasks, scheduler
    scheduler (reaper, dead letters) ──ExecutionResult──▶ VR_EVENTS (vr.events.ended)
    executor ──LogChunk──▶ VR_LOGS (vr.logs.<execution id>) ──▶ gateway (SSE viewers)
    tasks ──Execution id──▶ vr.final.<execution id> (core NATS) ──▶ gateway (?wait=N)
    anyone ──CancelRequest──▶ vr.cancel (core NATS) ──▶ every executor
    scheduler ──Job──▶ VR_DEAD (vr.dead.jobs) after max deliveries
    tasks (relay), scheduler (reaper) ──RunInputs parts──▶ VR_INPUTS (vr.inputs.<execution id>)
        ──▶ executors, only for a job whose inputs (files, stdin, test cases) are too large
    executor ──RunOutput parts──▶ VR_OUTPUT (vr.output.<execution id>.<attempt>) ──▶ tasks,
        only for a result whose output is too large to travel inside the result message

Every publish into a stream carries Nats-Msg-Id so a re-publish is de-duplicated. What an executor
publishes carries its attempt's claim tag in the id (voidrunner.contracts.claims): executors share
VR_EVENTS, VR_LOGS and VR_OUTPUT, and an id another client could guess would let it have the real
message dropped as a duplicate.
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
# Results the pipeline itself reports (the scheduler's reaper and dead-letter path): only the
# scheduler may publish here, and the recorder takes them without an executor's claim.
PIPELINE_RESULT_SUBJECT = "vr.events.ended"
TASKS_EVENTS_CONSUMER = "tasks-recorder"
SCHEDULER_EVENTS_CONSUMER = "scheduler-tracker"

LOGS_STREAM = "VR_LOGS"
LOG_SUBJECT_PREFIX = "vr.logs"

DEAD_STREAM = "VR_DEAD"
DEAD_SUBJECT = "vr.dead.jobs"

CANCEL_SUBJECT = "vr.cancel"
FINAL_SUBJECT_PREFIX = "vr.final"

MSG_ID_HEADER = "Nats-Msg-Id"

INPUTS_STREAM = "VR_INPUTS"
INPUTS_SUBJECT_PREFIX = "vr.inputs"

OUTPUT_STREAM = "VR_OUTPUT"
OUTPUT_SUBJECT_PREFIX = "vr.output"
# One part of a spilled output (voidrunner.contracts.output explains the bounds).
OUTPUT_PART_BYTES = 512 * 1024


# -- Nats-Msg-Id formats: one per kind of message, so a re-publish is de-duplicated -----------


def request_msg_id(execution_id: str) -> str:
    """An accepted execution relayed from the outbox (every relay of it is the same message)."""
    return execution_id


def requeue_msg_id(execution_id: str, round_: int) -> str:
    """The reaper's `round_`-th re-queue of a pending execution."""
    return f"{execution_id}:requeue:{round_}"


def job_msg_id(execution_id: str, attempt: int) -> str:
    """A job in a lane, by the attempt its first delivery is."""
    return f"{execution_id}:{attempt}"


def started_msg_id(execution_id: str, attempt: int, claim_tag: str) -> str:
    """An executor's claim of one attempt."""
    return f"{execution_id}:started:{attempt}:{claim_tag}"


def result_msg_id(execution_id: str, attempt: int, claim_tag: str) -> str:
    """An executor's result of one attempt (the pipeline's own results carry no id)."""
    return f"{execution_id}:result:{attempt}:{claim_tag}"


def log_msg_id(execution_id: str, attempt: int, seq: int, claim_tag: str) -> str:
    """One live log chunk."""
    return f"{execution_id}:{attempt}:{seq}:{claim_tag}"


def output_msg_id(execution_id: str, attempt: int, part: int, claim_tag: str) -> str:
    """One part of a result's output that was too large to travel inside the result."""
    return f"{execution_id}:{attempt}:output:{part}:{claim_tag}"


def inputs_msg_id(execution_id: str, part: int) -> str:
    """One part of a job's inputs that were too large to travel inside the job."""
    return f"{execution_id}:inputs:{part}"


def inputs_subject(execution_id: str) -> str:
    """Where the parts of one execution's large inputs go."""
    return f"{INPUTS_SUBJECT_PREFIX}.{execution_id}"


def dead_msg_id(stream_seq: int) -> str:
    """A job copied to the dead-letter stream, by its sequence in the jobs stream."""
    return f"dead:{stream_seq}"


def output_subject(execution_id: str, attempt: int) -> str:
    """Where the parts of one attempt's large output go."""
    return f"{OUTPUT_SUBJECT_PREFIX}.{execution_id}.{attempt}"


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

# Per-user in-flight slots of the scheduler (key = user id).
INFLIGHT_BUCKET = "vr_inflight"
# Sessions revoked before their access tokens expire (auth writes, gateways watch).
REVOKED_SESSIONS_BUCKET = "voidrunner_revoked_sessions"
# The valid API keys, key id -> contracts.api_keys.KeyEntry (auth writes, gateways watch).
API_KEYS_BUCKET = "voidrunner_api_keys"
# The gateways' shared rate-limit counters.
RATE_LIMIT_BUCKET = "voidrunner_ratelimits"

# Executors advertise their runtimes here (key = "<runtime>.<executor id>", JSON value), refreshed
# well within the TTL, so the bucket lists what live executors offer.
RUNTIMES_BUCKET = "vr_runtimes"
RUNTIMES_TTL_SECONDS = 60

# Each live executor's status (key = executor id, value = contracts.executors.ExecutorStatus),
# put every EXECUTOR_STATUS_SECONDS; an executor that stops putting drops out with the TTL.
EXECUTORS_BUCKET = "vr_executors"
EXECUTOR_STATUS_SECONDS = 5
EXECUTORS_TTL_SECONDS = 30
