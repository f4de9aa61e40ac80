"""Jobs that reached max deliveries: move them to the dead-letter stream and end their execution.

A work-queue stream keeps such a message forever; JetStream only announces it with an advisory
that carries its stream sequence. We copy the job to VR_DEAD, publish a sandbox_error result
(de-duplicated with any real result by its Nats-Msg-Id), and delete the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from google.protobuf.message import DecodeError
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.client import JetStreamContext

from voidrunner.common.logs import get_logger
from voidrunner.contracts import topology as t
from voidrunner.contracts.execution import attempt_of
from voidrunner.contracts.results import publish_pipeline_result, sandbox_error_result
from voidrunner.proto.jobs.v1 import jobs_pb2
from voidrunner.scheduler.metrics import DEAD_LETTERS

_log = get_logger("voidrunner.scheduler.dead_letters")
ADVISORY = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{t.JOBS_STREAM}.*"


class DeadLetters:
    def __init__(self, nc: NATS, js: JetStreamContext) -> None:
        self._nc = nc
        self._js = js

    async def start(self) -> Subscription:
        """Subscribe to the max-deliveries advisories of every job lane."""
        return await self._nc.subscribe(ADVISORY, cb=self.on_advisory)

    async def run(self, stop: asyncio.Event, ready: Callable[[], None] = lambda: None) -> None:
        """Handle advisories until `stop` (nats-py renews the subscription after a reconnect)."""
        sub = await self.start()
        ready()
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

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
        await self._js.publish(t.DEAD_SUBJECT, data, headers={t.MSG_ID_HEADER: t.dead_msg_id(seq)})
        if job.execution_id:
            result = sandbox_error_result(
                execution_id=job.execution_id,
                user_id=job.user_id,
                attempt=attempt_of(job.attempt, deliveries),
                reporter="scheduler",
                detail=f"gave up after {deliveries} delivery attempts (executors failed or died)",
            )
            await publish_pipeline_result(self._js, result)
        await self._js.delete_msg(t.JOBS_STREAM, seq)
        DEAD_LETTERS.inc()
        _log.warning("job dead-lettered", execution_id=job.execution_id or None, seq=seq)
