"""Jobs that reached max deliveries: move them to the dead-letter stream and end their execution.

A work-queue stream keeps such a message forever; JetStream only announces it with an advisory
that carries its stream sequence. We copy the job to VR_DEAD, publish a sandbox_error result
(de-duplicated with any real result by its Nats-Msg-Id), and delete the message.
"""

from __future__ import annotations

import datetime as dt
import json

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from voidrunner.common.logs import get_logger
from voidrunner.contracts import topology as t
from voidrunner.proto.jobs.v1 import jobs_pb2

_log = get_logger("voidrunner.scheduler.dead_letters")
ADVISORY = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{t.JOBS_STREAM}.*"


class DeadLetters:
    def __init__(self, nc: NATS, js: JetStreamContext) -> None:
        self._nc = nc
        self._js = js

    async def start(self) -> None:
        """Subscribe to the max-deliveries advisories of every job lane."""
        await self._nc.subscribe(ADVISORY, cb=self.on_advisory)

    async def on_advisory(self, msg: Msg) -> None:
        try:
            advisory = json.loads(msg.data)
            seq = int(advisory["stream_seq"])
            deliveries = int(advisory.get("deliveries", 0))
        except (ValueError, KeyError, TypeError):
            _log.warning("malformed max-deliveries advisory ignored")
            return
        try:
            stored = await self._js.get_msg(t.JOBS_STREAM, seq)
        except Exception:  # already gone (acked meanwhile, or handled by another replica)
            return
        data = stored.data or b""
        try:
            job = jobs_pb2.Job.FromString(data)
        except DecodeError:
            job = jobs_pb2.Job()
        await self._js.publish(t.DEAD_SUBJECT, data, headers={t.MSG_ID_HEADER: f"dead:{seq}"})
        if job.execution_id:
            now = Timestamp()
            now.FromDatetime(dt.datetime.now(dt.UTC))
            result = jobs_pb2.ExecutionResult(
                execution_id=job.execution_id,
                user_id=job.user_id,
                attempt=deliveries,
                executor_id="scheduler",
                termination_reason=jobs_pb2.TERMINATION_REASON_SANDBOX_ERROR,
                started_at=now,
                finished_at=now,
                detail=f"gave up after {deliveries} delivery attempts (executors failed or died)",
            )
            await self._js.publish(
                t.RESULT_SUBJECT,
                result.SerializeToString(),
                headers={t.MSG_ID_HEADER: f"{job.execution_id}:result"},
            )
        await self._js.delete_msg(t.JOBS_STREAM, seq)
        _log.warning("job dead-lettered", execution_id=job.execution_id or None, seq=seq)
