"""Ending or re-queueing executions that are stuck past their deadline.

Executions normally end through an executor's result. The reaper covers what that misses:
- pending for longer than `pending_timeout` (its request or job was lost): queued again, up to
  `max_requeues` times, then ended as sandbox_error;
- running past its start plus its task's timeout plus `grace` (its executor vanished and no
  redelivery finished it): ended as sandbox_error with the reason.
Ending means publishing an ExecutionResult like an executor would, with the same Nats-Msg-Id,
so it can never become a second result; the tasks service records it through its state machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING

import grpc
from nats.js.client import JetStreamContext

from voidrunner.common.logs import get_logger
from voidrunner.contracts import topology as t
from voidrunner.contracts.jobs import publish_job
from voidrunner.contracts.results import publish_pipeline_result, sandbox_error_result
from voidrunner.proto.tasks.v1 import tasks_pb2
from voidrunner.scheduler.metrics import REAPER_ACTIONS

if TYPE_CHECKING:
    from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceAsyncStub

_log = get_logger("voidrunner.scheduler.reaper")
SERVICE = tasks_pb2.Caller(user_id="00000000-0000-0000-0000-000000000000", role="service")


class Reaper:
    def __init__(
        self,
        tasks: TasksServiceAsyncStub,
        js: JetStreamContext,
        *,
        pending_timeout: float,
        grace: float,
        max_requeues: int,
        interval: float,
    ) -> None:
        self._tasks = tasks
        self._js = js
        self._pending_timeout = pending_timeout
        self._grace = grace
        self._max_requeues = max_requeues
        self._interval = interval

    async def sweep(self) -> tuple[int, int]:
        """One pass; returns (re-queued, ended)."""
        resp = await self._tasks.ListOverdueExecutions(
            tasks_pb2.ListOverdueExecutionsRequest(
                caller=SERVICE,
                pending_seconds=self._pending_timeout,
                running_grace_seconds=self._grace,
                limit=200,
            ),
            timeout=10,
        )
        now = dt.datetime.now(dt.UTC)
        requeued = ended = 0
        for overdue in resp.executions:
            e = overdue.execution
            if e.status == "pending":
                age = (now - e.created_at.ToDatetime(tzinfo=dt.UTC)).total_seconds()
                round_ = int(age // self._pending_timeout)
                if round_ <= self._max_requeues:
                    # A fresh attempt number: its job is a new message (not de-duplicated as the
                    # lost one), and any run of the lost job stays a separate, reported attempt.
                    job = overdue.job
                    job.attempt = e.attempt + round_
                    await publish_job(
                        self._js, t.REQUESTS_SUBJECT, job, t.requeue_msg_id(e.id, round_)
                    )
                    requeued += 1
                    REAPER_ACTIONS.labels("requeued").inc()
                    _log.warning("pending execution queued again", execution_id=e.id, round=round_)
                    continue
                detail = f"not picked up by any executor within {int(age)} s"
            else:
                detail = (
                    "no result from an executor within the task's timeout plus "
                    f"{int(self._grace)} s (executor lost)"
                )
            await self._end(e, detail)
            ended += 1
            REAPER_ACTIONS.labels("ended").inc()
        return requeued, ended

    async def _end(self, execution: tasks_pb2.Execution, detail: str) -> None:
        result = sandbox_error_result(
            execution_id=execution.id,
            # The slot to free is the starter's (Job.user_id), not always the task owner's.
            user_id=execution.started_by or execution.user_id,
            attempt=execution.attempt,
            reporter="reaper",
            detail=detail,
            started_at=execution.started_at if execution.HasField("started_at") else None,
        )
        await publish_pipeline_result(self._js, result)
        _log.warning("overdue execution ended", execution_id=execution.id, detail=detail)

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every interval until `stop`; failures are logged and retried next time."""
        while not stop.is_set():
            try:
                await self.sweep()
            except grpc.aio.AioRpcError as exc:  # the tasks service is starting or away
                _log.warning("reaper sweep skipped", code=exc.code().name)
            except Exception:  # NATS away, or a bug: next interval
                _log.warning("reaper sweep failed", exc_info=True)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
            except TimeoutError:
                continue
