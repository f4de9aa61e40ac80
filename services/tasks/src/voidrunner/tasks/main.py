"""The tasks service's composition root: settings → pool, NATS → services → gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from voidrunner.common.db import Queries, create_pool
from voidrunner.common.grpc_server import GrpcServer
from voidrunner.common.logs import get_logger
from voidrunner.common.nats_client import connect_nats, drain_nats
from voidrunner.contracts.streams import declare_streams
from voidrunner.proto.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from voidrunner.tasks.executions import ExecutionService
from voidrunner.tasks.notifier import NatsNotifier
from voidrunner.tasks.outbox import Outbox
from voidrunner.tasks.recorder import EventRecorder
from voidrunner.tasks.relay import JetStreamPublisher, OutboxRelay
from voidrunner.tasks.repository import TaskRepository
from voidrunner.tasks.schema import QUERIES_FILE
from voidrunner.tasks.service import Defaults, TaskService
from voidrunner.tasks.servicer import TasksServicer
from voidrunner.tasks.settings import TasksSettings
from voidrunner.tasks.validation import Limits

_log = get_logger("voidrunner.tasks")
NATS_RETRY_SECONDS = 2.0


def with_custom_plans(dsn: str) -> str:
    """`dsn` with plan_cache_mode=force_custom_plan for every pooled connection.

    The list queries take optional filters and an optional keyset position as `$n IS NULL OR`
    conditions. A generic plan cannot drop the absent ones, so it would filter the whole user
    range instead of seeking the (user_id, key, id) index; custom plans fold them away (≈ 0.1 ms
    of planning per list call).
    """
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "plan_cache_mode"]
    query.append(("plan_cache_mode", "force_custom_plan"))
    return urlunsplit(parts._replace(query=urlencode(query)))


class TasksApp:
    """Everything the tasks process runs; `start()` returns the bound gRPC port."""

    def __init__(self, settings: TasksSettings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._notifier = NatsNotifier(settings.cancel_subject)
        self._server: GrpcServer | None = None
        self._stop = asyncio.Event()
        self._nats_task: asyncio.Task[None] | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self._recorder: EventRecorder | None = None
        self._recorder_task: asyncio.Task[None] | None = None
        self.outbox: Outbox | None = None

    async def start(self) -> int:
        """Open the pool and NATS, serve gRPC, start the relay; returns the bound port."""
        s = self.settings
        self._pool = await create_pool(
            with_custom_plans(s.database_url.get_secret_value()), max_size=s.db_pool_size
        )
        queries = Queries(QUERIES_FILE)
        repo = TaskRepository(queries)
        self.outbox = Outbox(self._pool, queries, s.outbox_channel)
        limits = Limits(
            runtimes=tuple(s.runtimes),
            max_memory_limit_mb=s.max_memory_limit_mb,
            max_cpu_limit=s.max_cpu_limit,
            max_max_output_bytes=s.max_max_output_bytes,
        )
        defaults = Defaults(
            memory_limit_mb=s.default_memory_limit_mb,
            cpu_limit=s.default_cpu_limit,
            max_output_bytes=s.default_max_output_bytes,
        )
        relay = None
        if s.outbox_relay_enabled:
            relay = OutboxRelay(
                self.outbox,
                JetStreamPublisher(lambda: self._notifier.nc),
                s.database_url.get_secret_value(),
                poll_seconds=s.outbox_poll_seconds,
            )
        executions = ExecutionService(
            self._pool,
            repo,
            self.outbox,
            self._notifier,
            on_queued=relay.wake if relay is not None else None,
        )
        servicer = TasksServicer(TaskService(self._pool, repo, limits, defaults), executions)
        self._recorder = EventRecorder(executions)
        # NATS only carries best-effort cancel requests: the service starts without it and
        # keeps trying in the background (new work goes through the outbox, not NATS).
        if not await self._connect_nats():
            self._nats_task = asyncio.create_task(self._nats_retry(), name="nats-connect")
        self._server = GrpcServer(
            host=s.tasks_grpc_host,
            port=s.tasks_grpc_port,
            registrations=[
                lambda srv: tasks_pb2_grpc.add_TasksServiceServicer_to_server(servicer, srv)
            ],
            service_names=[tasks_pb2.DESCRIPTOR.services_by_name["TasksService"].full_name],
        )
        port = await self._server.start()
        if relay is not None:
            self._relay_task = asyncio.create_task(relay.run(self._stop), name="outbox-relay")
        return port

    async def _connect_nats(self) -> bool:
        try:
            nc = await connect_nats(
                self.settings.nats_url, name="voidrunner-tasks", connect_timeout=2.0
            )
            js = nc.jetstream()
            try:
                await declare_streams(js)
            except Exception:
                await nc.close()
                raise
            self._notifier.nc = nc
        except Exception as exc:  # any failure to connect means "try again later"
            _log.warning("nats unavailable at start; retrying in the background", error=str(exc))
            return False
        if self._recorder is not None and self.settings.event_recorder_enabled:
            self._recorder_task = asyncio.create_task(
                self._recorder.run(js, self._stop), name="event-recorder"
            )
        return True

    async def _nats_retry(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), NATS_RETRY_SECONDS)
            if self._stop.is_set() or await self._connect_nats():
                return

    async def stop(self) -> None:
        """Drain RPCs, stop the relay, then close NATS and the pool."""
        self._stop.set()
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_seconds)
        for task in (self._relay_task, self._nats_task, self._recorder_task):
            if task is not None:
                await task
        if self._notifier.nc is not None:
            await drain_nats(self._notifier.nc)
        if self._pool is not None:
            await self._pool.close()
