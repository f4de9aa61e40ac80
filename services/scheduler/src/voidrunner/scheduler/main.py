"""The scheduler's composition root: NATS, in-flight tracker, dispatcher, dead letters, reaper."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from nats.aio.client import Client as NATS

from voidrunner.common.grpc_server import GrpcServer, insecure_channel
from voidrunner.common.nats_client import connect_nats, drain_nats
from voidrunner.contracts import topology as t
from voidrunner.contracts.streams import cancelled_bucket, declare_streams
from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceStub
from voidrunner.scheduler.dead_letters import DeadLetters
from voidrunner.scheduler.dispatcher import Dispatcher, pull_loop
from voidrunner.scheduler.inflight import InflightTracker
from voidrunner.scheduler.reaper import Reaper
from voidrunner.scheduler.settings import SchedulerSettings


class SchedulerApp:
    """Runs the dispatch loops; `start()` returns the gRPC health port."""

    def __init__(self, settings: SchedulerSettings) -> None:
        self.settings = settings
        self._nc: NATS | None = None
        self._server: GrpcServer | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._channel: grpc.aio.Channel | None = None
        self.reaper: Reaper | None = None

    async def start(self) -> int:
        s = self.settings
        self._nc = await connect_nats(s.nats_url, name="voidrunner-scheduler")
        js = self._nc.jetstream()
        await declare_streams(js)
        tracker = await InflightTracker.open(js, s.per_user_concurrency)
        dispatcher = Dispatcher(
            js,
            tracker,
            await cancelled_bucket(js),
            retry_delay=s.concurrency_retry_seconds,
            slot_ttl_extra=s.pending_timeout_seconds + s.reaper_grace_seconds,
        )
        self._tasks = [
            asyncio.create_task(
                pull_loop(
                    js,
                    t.REQUESTS_STREAM,
                    dispatcher.requests_consumer(),
                    dispatcher.on_request,
                    self._stop,
                ),
                name="dispatch",
            ),
            asyncio.create_task(
                pull_loop(
                    js,
                    t.EVENTS_STREAM,
                    dispatcher.results_consumer(),
                    dispatcher.on_result,
                    self._stop,
                ),
                name="release",
            ),
        ]
        await DeadLetters(self._nc, js).start()
        self._channel = insecure_channel(s.tasks_addr)
        self.reaper = Reaper(
            TasksServiceStub(self._channel),
            js,
            pending_timeout=s.pending_timeout_seconds,
            grace=s.reaper_grace_seconds,
            max_requeues=s.reaper_max_requeues,
            interval=s.reaper_interval_seconds,
        )
        self._tasks.append(asyncio.create_task(self.reaper.run(self._stop), name="reaper"))
        self._server = GrpcServer(
            host=s.scheduler_health_host,
            port=s.scheduler_health_port,
            registrations=[],
            service_names=[],
        )
        return await self._server.start()

    async def stop(self) -> None:
        """Finish the current batch, then close."""
        self._stop.set()
        if self._server is not None:
            await self._server.stop(1.0)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=self.settings.shutdown_grace_seconds)
        if self._channel is not None:
            await self._channel.close(None)
        if self._nc is not None:
            await drain_nats(self._nc)
