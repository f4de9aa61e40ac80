"""The executor's composition root: NATS, sandbox backend, job runner and consumer, health."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client as NATS

from voidrunner.common.grpc_server import GrpcServer
from voidrunner.common.logs import get_logger
from voidrunner.common.nats_client import connect_nats, drain_nats
from voidrunner.contracts.streams import cancelled_bucket, declare_streams, runtimes_bucket
from voidrunner.executor.advertiser import advertise, advertisements
from voidrunner.executor.backend import build_sandbox, load_runtimes, operator_caps
from voidrunner.executor.consumer import ConsumerConfig, JobConsumer
from voidrunner.executor.job_runner import JobRunner, RunnerConfig
from voidrunner.executor.sandbox.types import Sandbox
from voidrunner.executor.settings import ExecutorSettings

_log = get_logger("voidrunner.executor")


class ExecutorApp:
    """Runs jobs from NATS in sandboxes; `start()` returns the gRPC health port."""

    def __init__(self, settings: ExecutorSettings, sandbox: Sandbox | None = None) -> None:
        self.settings = settings
        self._sandbox = sandbox
        self._nc: NATS | None = None
        self._server: GrpcServer | None = None
        self.consumer: JobConsumer | None = None
        self._stop = asyncio.Event()
        self._advertiser: asyncio.Task[None] | None = None

    async def start(self) -> int:
        s = self.settings
        catalog = load_runtimes(s)
        if self._sandbox is None:
            self._sandbox = build_sandbox(s, catalog)
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
        self._nc = await connect_nats(s.nats_url, name=f"voidrunner-executor-{s.executor_id}")
        js = self._nc.jetstream()
        await declare_streams(js)
        runner = JobRunner(
            js,
            self._sandbox,
            catalog,
            RunnerConfig(
                executor_id=s.executor_id,
                caps=operator_caps(s),
                log_batch_bytes=s.log_batch_bytes,
                log_batch_ms=s.log_batch_ms,
            ),
        )
        self.consumer = JobConsumer(
            self._nc,
            js,
            runner,
            await cancelled_bucket(js),
            ConsumerConfig(
                slots=s.executor_slots,
                ack_wait=s.ack_wait_seconds,
                heartbeat=s.heartbeat_seconds,
                max_deliver=s.max_deliver,
                shutdown_grace=s.shutdown_grace_seconds,
            ),
        )
        await self.consumer.start()
        entries = advertisements(self._sandbox, catalog, operator_caps(s), s.executor_id)
        self._advertiser = asyncio.create_task(
            advertise(await runtimes_bucket(js), entries, self._stop), name="advertise"
        )
        self._server = GrpcServer(
            host=s.executor_health_host,
            port=s.executor_health_port,
            registrations=[],
            service_names=[],
        )
        port = await self._server.start()
        _log.info(
            "executor ready",
            executor_id=s.executor_id,
            backend=self._sandbox.name,
            slots=s.executor_slots,
        )
        return port

    async def stop(self) -> None:
        """Drain: finish or hand back running jobs, then close everything."""
        self._stop.set()
        if self._advertiser is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._advertiser
        if self._server is not None:
            await self._server.stop(1.0)
        if self.consumer is not None:
            await self.consumer.stop()
        if self._nc is not None:
            await drain_nats(self._nc)
        if self._sandbox is not None:
            await self._sandbox.close()
