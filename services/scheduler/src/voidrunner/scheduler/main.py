"""The scheduler's composition root: NATS, in-flight tracker, dispatcher, dead letters, reaper.

Every loop runs under one supervisor and waits for NATS, so the scheduler starts while NATS is
away and reports NOT_SERVING on grpc.health.v1 until NATS is connected and every loop is bound
(and again while any loop is down).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from voidrunner.common.grpc_server import GrpcServer, service_channel
from voidrunner.common.metrics_endpoint import MetricsEndpoint
from voidrunner.common.service_identity import nats_for, signer_from
from voidrunner.common.supervision import Loop, supervisor_for
from voidrunner.common.tracing import Tracing
from voidrunner.contracts import topology as t
from voidrunner.contracts.identities import ServiceName, inbox_prefix
from voidrunner.contracts.streams import cancelled_bucket, declare_pipeline
from voidrunner.proto.tasks.v1.tasks_pb2_grpc import TasksServiceStub
from voidrunner.scheduler.dead_letters import DeadLetters
from voidrunner.scheduler.dispatcher import Dispatcher, pull_loop
from voidrunner.scheduler.inflight import InflightTracker
from voidrunner.scheduler.metrics import poll_lanes
from voidrunner.scheduler.reaper import Reaper
from voidrunner.scheduler.settings import SchedulerSettings


class SchedulerApp:
    """Runs the dispatch loops; `start()` returns the gRPC health port."""

    def __init__(self, settings: SchedulerSettings) -> None:
        self.settings = settings
        self.loops = supervisor_for(settings)
        self._nats = nats_for(
            settings,
            settings.nats_url,
            client_name="voidrunner-scheduler",
            inbox_prefix=inbox_prefix(ServiceName.SCHEDULER),
        )
        self._server: GrpcServer | None = None
        self._channel: grpc.aio.Channel | None = None
        self._dispatcher: Dispatcher | None = None
        self._building = asyncio.Lock()
        self.reaper: Reaper | None = None
        self.metrics = MetricsEndpoint(settings.metrics_host, settings.metrics_port)
        self.tracing = Tracing.configure(settings)

    async def start(self) -> int:
        self.metrics.start()
        s = self.settings
        signer = signer_from(s, ServiceName.SCHEDULER)
        self._channel = service_channel(s.tasks_addr, signer, ServiceName.TASKS)
        self.loops.add("nats", self._nats.run, signals_ready=True)
        self.loops.add("dispatch", self._dispatch, signals_ready=True)
        self.loops.add("release", self._release, signals_ready=True)
        self.loops.add("dead_letters", self._dead_letters, signals_ready=True)
        self.loops.add("reaper", self._reap, signals_ready=True)
        self.loops.add("lane_metrics", self._lane_metrics, signals_ready=True)
        self.loops.start()
        self._server = GrpcServer(
            host=s.scheduler_health_host,
            port=s.scheduler_health_port,
            registrations=[],
            service_names=[],
            health=self.loops,
        )
        return await self._server.start()

    async def _shared_dispatcher(self) -> Dispatcher:
        """The dispatcher both pull loops use, built once NATS is there."""
        async with self._building:
            if self._dispatcher is None:
                s = self.settings
                js = (await self._nats.connected()).jetstream()
                await declare_pipeline(js)
                self._dispatcher = Dispatcher(
                    js,
                    await InflightTracker.open(js, s.per_user_concurrency),
                    await cancelled_bucket(js),
                    retry_delay=s.concurrency_retry_seconds,
                    slot_ttl_extra=s.pending_timeout_seconds + s.reaper_grace_seconds,
                    tracing=self.tracing,
                )
            return self._dispatcher

    async def _dispatch(self, loop: Loop) -> None:
        dispatcher = await self._shared_dispatcher()
        await self._consume(
            loop, t.REQUESTS_STREAM, dispatcher.requests_consumer(), dispatcher.on_request
        )

    async def _release(self, loop: Loop) -> None:
        dispatcher = await self._shared_dispatcher()
        await self._consume(
            loop, t.EVENTS_STREAM, dispatcher.results_consumer(), dispatcher.on_result
        )

    async def _consume(
        self,
        loop: Loop,
        stream: str,
        config: ConsumerConfig,
        handle: Callable[[Msg], Awaitable[None]],
    ) -> None:
        js = (await self._nats.connected()).jetstream()
        # Again at every restart: a stream deleted under a running scheduler comes back.
        await declare_pipeline(js)
        await pull_loop(
            js,
            stream,
            config,
            handle,
            loop.stop,
            loop.ready,
            self.settings.jetstream_idle_fetch_seconds,
        )

    async def _dead_letters(self, loop: Loop) -> None:
        nc = await self._nats.connected()
        await DeadLetters(nc, nc.jetstream()).run(loop.stop, loop.ready)

    async def _lane_metrics(self, loop: Loop) -> None:
        js = (await self._nats.connected()).jetstream()
        await poll_lanes(js, loop.stop, loop.ready)

    async def _reap(self, loop: Loop) -> None:
        js = (await self._nats.connected()).jetstream()
        if self.reaper is None:
            s = self.settings
            assert self._channel is not None
            self.reaper = Reaper(
                TasksServiceStub(self._channel),
                js,
                pending_timeout=s.pending_timeout_seconds,
                grace=s.reaper_grace_seconds,
                max_requeues=s.reaper_max_requeues,
                interval=s.reaper_interval_seconds,
            )
        loop.ready()
        await self.reaper.run(loop.stop)

    async def stop(self) -> None:
        """Report NOT_SERVING, let the loops finish their current message, then close."""
        self.metrics.stop()
        if self._server is not None:
            await self._server.stop(1.0)
        await self.loops.stop(self.settings.shutdown_grace_seconds)
        if self._channel is not None:
            await self._channel.close(None)
        await self._nats.drain()
        await self.tracing.shutdown()
