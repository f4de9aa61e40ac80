"""Building the result messages that more than one hop reports.

The executor, the scheduler's reaper and its dead-letter path all end executions by publishing an
ExecutionResult; the recorder keeps whichever comes first (a final state never changes). A
sandbox_error result is built here once for all of them.
"""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp
from nats.js.client import JetStreamContext

from voidrunner.contracts import topology as t
from voidrunner.contracts.execution import TerminationReason
from voidrunner.contracts.output import MAX_DETAIL_CHARS
from voidrunner.proto.jobs.v1 import jobs_pb2


def timestamp(value: dt.datetime | None = None) -> Timestamp:
    """A protobuf Timestamp of `value` (now when None)."""
    ts = Timestamp()
    ts.FromDatetime(value if value is not None else dt.datetime.now(dt.UTC))
    return ts


def bounded_detail(detail: str) -> str:
    """`detail` cut to the fixed bound a result message allows for it."""
    return detail if len(detail) <= MAX_DETAIL_CHARS else detail[: MAX_DETAIL_CHARS - 1] + "…"


def sandbox_error_result(
    *,
    execution_id: str,
    user_id: str,
    attempt: int,
    reporter: str,
    detail: str,
    started_at: Timestamp | None = None,
) -> jobs_pb2.ExecutionResult:
    """A result saying the code could not run (or its run was lost), and why."""
    now = timestamp()
    return jobs_pb2.ExecutionResult(
        execution_id=execution_id,
        user_id=user_id,
        attempt=attempt,
        executor_id=reporter,
        termination_reason=TerminationReason.SANDBOX_ERROR.value,
        started_at=started_at if started_at is not None else now,
        finished_at=now,
        termination_detail=bounded_detail(detail),
    )


async def publish_pipeline_result(js: JetStreamContext, result: jobs_pb2.ExecutionResult) -> None:
    """Report a result on the pipeline's own subject (only the scheduler may publish there).

    Without a Nats-Msg-Id: executors publish into the same stream, and one that guessed the id
    could have the stream drop this result as a duplicate. Recording is idempotent, so a retried
    publish stored twice changes nothing.
    """
    await js.publish(t.PIPELINE_RESULT_SUBJECT, result.SerializeToString())
