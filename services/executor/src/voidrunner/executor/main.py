"""The executor's composition root: NATS, sandbox backend, job runner and consumer, health.

The job loop and the advertiser run under one supervisor and wait for NATS: the executor starts
while NATS is away and reports NOT_SERVING on grpc.health.v1 until it can take jobs (and again
while any loop is down).
"""

from __future__ import annotations

import datetime as dt

from voidrunner.common.grpc_server import GrpcServer
from voidrunner.common.logs import get_logger
from voidrunner.common.metrics_endpoint import MetricsEndpoint
from voidrunner.common.service_identity import nats_for
from voidrunner.common.supervision import Loop, supervisor_for
from voidrunner.common.tracing import TRACING_OFF, Tracing
from voidrunner.contracts import topology as t
from voidrunner.contracts.executors import ExecutorStatus
from voidrunner.contracts.identities import ServiceName, inbox_prefix
from voidrunner.contracts.runtimes import RuntimeCatalog
from voidrunner.contracts.streams import bind_bucket, wait_for_pipeline
from voidrunner.executor.advertiser import advertise, advertisements, report_status
from voidrunner.executor.backend import build_sandbox, load_runtimes
from voidrunner.executor.consumer import ConsumerConfig, JobConsumer
from voidrunner.executor.job_runner import JobRunner, RunnerConfig
from voidrunner.executor.privileges import drop_for
from voidrunner.executor.sandbox.types import Sandbox
from voidrunner.executor.settings import ExecutorSettings

_log = get_logger("voidrunner.executor")
# Beyond the shutdown grace, how long handing back unfinished jobs may take (JobConsumer).
HAND_BACK_SECONDS = 15.0


class ExecutorApp:
    """Runs jobs from NATS in sandboxes; `start()` returns the gRPC health port."""

    def __init__(
        self,
        settings: ExecutorSettings,
        sandbox: Sandbox | None = None,
        *,
        drop_capabilities: bool = False,
    ) -> None:
        """`drop_capabilities`: once set up, keep only the capabilities the backend needs
        (privileges.py); for a process of its own, as dropping is irrevocable."""
        self.settings = settings
        self._drop_capabilities = drop_capabilities
        self.loops = supervisor_for(settings)
        self._sandbox = sandbox
        self._nats = nats_for(
            settings,
            settings.nats_url,
            client_name=f"voidrunner-executor-{settings.executor_id}",
            inbox_prefix=inbox_prefix(ServiceName.EXECUTOR),
        )
        self._server: GrpcServer | None = None
        self._catalog: RuntimeCatalog | None = None
        self._advertised: dict[str, bytes] = {}
        self.consumer: JobConsumer | None = None
        self.metrics = MetricsEndpoint(settings.metrics_host, settings.metrics_port)
        # Configured in start(): the exporter's thread must not predate the capability drop.
        self.tracing = TRACING_OFF
        self._started_at = dt.datetime.now(dt.UTC)
        self._available: tuple[str, ...] = ()

    async def start(self) -> int:
        s = self.settings
        self._catalog = load_runtimes(s)
        if self._sandbox is None:
            self._sandbox = build_sandbox(s, self._catalog)
        prepare = getattr(self._sandbox, "start", None)
        if prepare is not None:  # docker: check the engine, reap leftovers, fill the warm pool
            await prepare()
        for info in self._sandbox.runtimes():
            _log.info(
                "runtime",
                name=info.name,
                version=info.version,
                available=info.available,
                reason=info.reason or None,
            )
        if self._drop_capabilities:  # before any thread starts: each keeps its own
            drop_for(self._sandbox.name)
        self.metrics.start()  # its server thread: only once the capabilities are dropped
        self.tracing = Tracing.configure(s)  # its exporter thread likewise
        self._advertised = advertisements(self._sandbox, self._catalog, s.executor_id)
        self._available = tuple(sorted(i.name for i in self._sandbox.runtimes() if i.available))
        self.loops.add("nats", self._nats.run, signals_ready=True)
        self.loops.add("jobs", self._take_jobs, signals_ready=True)
        self.loops.add("advertiser", self._advertise, signals_ready=True)
        self.loops.add("status", self._report_status, signals_ready=True)
        self.loops.start()
        self._server = GrpcServer(
            host=s.executor_health_host,
            port=s.executor_health_port,
            registrations=[],
            service_names=[],
            health=self.loops,
        )
        return await self._server.start()

    async def _take_jobs(self, loop: Loop) -> None:
        if self.consumer is None:  # once: a restart keeps the consumer and its running jobs
            s = self.settings
            assert self._sandbox is not None
            assert self._catalog is not None
            nc = await self._nats.connected()
            js = nc.jetstream()
            if not await wait_for_pipeline(js, loop.stop):
                return
            runner = JobRunner(
                js,
                self._sandbox,
                self._catalog,
                RunnerConfig(
                    executor_id=s.executor_id,
                    caps=self._catalog.caps,
                    log_batch_bytes=s.log_batch_bytes,
                    log_batch_ms=s.log_batch_ms,
                ),
                self.tracing,
            )
            consumer = JobConsumer(
                nc,
                js,
                runner,
                await bind_bucket(js, t.CANCELLED_BUCKET),
                ConsumerConfig(
                    slots=s.executor_slots,
                    ack_wait=s.ack_wait_seconds,
                    heartbeat=s.heartbeat_seconds,
                    max_deliver=s.max_deliver,
                    shutdown_grace=s.shutdown_grace_seconds,
                ),
                self.tracing,
            )
            await consumer.start()
            self.consumer = consumer
            # Operators and the fault suites read this line: jobs are taken from now on.
            _log.info(
                "executor ready",
                executor_id=s.executor_id,
                backend=self._sandbox.name,
                slots=s.executor_slots,
            )
        loop.ready()
        await self.consumer.run(loop.stop)

    async def _advertise(self, loop: Loop) -> None:
        js = (await self._nats.connected()).jetstream()
        if not await wait_for_pipeline(js, loop.stop):
            return
        kv = await bind_bucket(js, t.RUNTIMES_BUCKET)
        loop.ready()
        await advertise(kv, self._advertised, loop.stop)

    async def _report_status(self, loop: Loop) -> None:
        js = (await self._nats.connected()).jetstream()
        if not await wait_for_pipeline(js, loop.stop):
            return
        kv = await bind_bucket(js, t.EXECUTORS_BUCKET)
        loop.ready()
        await report_status(kv, self._status, loop.stop)

    def _status(self, draining: bool) -> ExecutorStatus:
        assert self._sandbox is not None
        consumer = self.consumer
        return ExecutorStatus(
            executor_id=self.settings.executor_id,
            backend=self._sandbox.name,
            runtimes=self._available,
            slots=self.settings.executor_slots,
            busy=consumer.running if consumer is not None else 0,
            draining=draining or (consumer is not None and consumer.draining),
            started_at=self._started_at,
            heartbeat_at=dt.datetime.now(dt.UTC),
        )

    async def stop(self) -> None:
        """Drain: finish or hand back running jobs, then close everything."""
        self.metrics.stop()
        if self._server is not None:
            await self._server.stop(1.0)
        # The job loop drains itself once stopped (JobConsumer.run): give it that long.
        await self.loops.stop(self.settings.shutdown_grace_seconds + HAND_BACK_SECONDS)
        await self._nats.drain()
        if self._sandbox is not None:
            await self._sandbox.close()
        await self.tracing.shutdown()
