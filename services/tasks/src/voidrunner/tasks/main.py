"""The tasks service's composition root: settings → pool, NATS → services → gRPC server.

The outbox relay, the event recorder and the NATS connection run under one supervisor. NATS
carries the relay's jobs, the executors' events and best-effort cancel notices: the service
starts without it (new work waits in the outbox) and connects when it comes, reporting
NOT_SERVING on grpc.health.v1 meanwhile (and while any loop is down).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from voidrunner.common.db import Queries, create_pool
from voidrunner.common.grpc_server import GrpcServer
from voidrunner.common.logs import get_logger
from voidrunner.common.metrics_endpoint import MetricsEndpoint
from voidrunner.common.service_identity import access_from, nats_for
from voidrunner.common.supervision import Loop, supervisor_for
from voidrunner.common.tracing import Tracing
from voidrunner.contracts.identities import ServiceName, inbox_prefix
from voidrunner.contracts.runtimes import load_catalog
from voidrunner.contracts.streams import declare_pipeline
from voidrunner.proto.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from voidrunner.proto.webhooks.v1 import webhooks_pb2_grpc
from voidrunner.tasks import access
from voidrunner.tasks.execution_lists import ExecutionList
from voidrunner.tasks.executions import ExecutionService
from voidrunner.tasks.inputs import InputCaps
from voidrunner.tasks.metrics import poll_outbox
from voidrunner.tasks.notifier import NatsNotifier
from voidrunner.tasks.outbox import Outbox
from voidrunner.tasks.policy import RuntimePolicy
from voidrunner.tasks.recorder import EventRecorder
from voidrunner.tasks.relay import JetStreamPublisher, OutboxRelay
from voidrunner.tasks.repository import TaskRepository
from voidrunner.tasks.schema import QUERIES_FILE, SHARES_FILE
from voidrunner.tasks.service import TaskService
from voidrunner.tasks.servicer import TasksServicer
from voidrunner.tasks.settings import TasksSettings
from voidrunner.tasks.shares import ShareRepository, ShareService
from voidrunner.tasks.stats import PlatformStats
from voidrunner.tasks.webhooks.allow_list import AllowList
from voidrunner.tasks.webhooks.callbacks import Callbacks
from voidrunner.tasks.webhooks.dispatcher import WebhookDispatcher
from voidrunner.tasks.webhooks.endpoints import WebhookService
from voidrunner.tasks.webhooks.events import WebhookEvents
from voidrunner.tasks.webhooks.guard import UrlGuard, no_names, system_resolver
from voidrunner.tasks.webhooks.sealing import SecretBox, generate_key, parse_key
from voidrunner.tasks.webhooks.sender import SenderConfig, WebhookSender
from voidrunner.tasks.webhooks.servicer import SERVICE_NAME as WEBHOOKS_SERVICE
from voidrunner.tasks.webhooks.servicer import WebhooksServicer
from voidrunner.tasks.webhooks.store import WebhookStore


@dataclass(frozen=True, slots=True)
class Webhooks:
    """The webhook parts the tasks process runs."""

    service: WebhookService
    callbacks: Callbacks
    events: WebhookEvents
    dispatcher: WebhookDispatcher | None


_log = get_logger("voidrunner.tasks")

# How long the loops get to return once stopped: the recorder looks at its stop event between
# fetches of up to a second; a busy machine may need a few more.
LOOP_GRACE_SECONDS = 5.0


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
        self.loops = supervisor_for(settings)
        self._nats = nats_for(
            settings,
            settings.nats_url,
            client_name="voidrunner-tasks",
            inbox_prefix=inbox_prefix(ServiceName.TASKS),
        )
        self._pool: asyncpg.Pool | None = None
        self._notifier = NatsNotifier(settings.cancel_subject)
        # Notices go out over the client whenever it is connected (and are dropped otherwise).
        self._notifier.nc = self._nats.client
        self._server: GrpcServer | None = None
        self._recorder: EventRecorder | None = None
        self.outbox: Outbox | None = None
        self.metrics = MetricsEndpoint(settings.metrics_host, settings.metrics_port)
        self.tracing = Tracing.configure(settings)

    async def start(self) -> int:
        """Open the pool, start the loops, serve gRPC; returns the bound port."""
        self.metrics.start()
        s = self.settings
        self._pool = await create_pool(
            with_custom_plans(s.database_url.get_secret_value()), max_size=s.db_pool_size
        )
        queries = Queries(QUERIES_FILE)
        repo = TaskRepository(queries)
        shares = ShareRepository(Queries(SHARES_FILE))
        self.outbox = Outbox(self._pool, queries, s.outbox_channel)
        policy = RuntimePolicy(
            load_catalog(s.runtimes_file),
            InputCaps(
                max_files=s.max_files,
                max_files_bytes=s.max_files_bytes,
                max_test_cases=s.max_test_cases,
            ),
            max_batch=s.max_batch,
        )
        relay = None
        if s.outbox_relay_enabled:
            relay = OutboxRelay(
                self.outbox,
                JetStreamPublisher(lambda: self._nats.client, self.tracing),
                s.database_url.get_secret_value(),
                poll_seconds=s.outbox_poll_seconds,
            )
        hooks = self._webhooks(self._pool)
        executions = ExecutionService(
            self._pool,
            repo,
            self.outbox,
            self._notifier,
            policy,
            shares,
            on_queued=relay.wake if relay is not None else None,
            events=hooks.events,
            callbacks=hooks.callbacks,
        )
        servicer = TasksServicer(
            TaskService(self._pool, repo, policy, shares, hooks.callbacks),
            executions,
            ExecutionList(self._pool, repo, shares),
            policy,
            PlatformStats(self._pool, queries),
            ShareService(self._pool, shares),
        )
        self._recorder = EventRecorder(
            executions, tracing=self.tracing, fetch_timeout=s.jetstream_idle_fetch_seconds
        )
        self.loops.add("nats", self._nats.run, signals_ready=True)
        if relay is not None:
            # Up from the start: it keeps jobs in the outbox while NATS is away.
            self.loops.add("outbox_relay", lambda loop: relay.run(loop.stop))
        if s.event_recorder_enabled:
            self.loops.add("event_recorder", self._record, signals_ready=True)
        outbox = self.outbox
        self.loops.add(
            "outbox_metrics",
            lambda loop: poll_outbox(outbox, loop.stop, loop.ready),
            signals_ready=True,
        )
        dispatcher = hooks.dispatcher
        if dispatcher is not None:
            self.loops.add(
                "webhook_delivery",
                lambda loop: dispatcher.run(loop.stop, loop.ready),
                signals_ready=True,
            )
        self.loops.start()
        self._server = GrpcServer(
            host=s.tasks_grpc_host,
            port=s.tasks_grpc_port,
            registrations=[
                lambda srv: tasks_pb2_grpc.add_TasksServiceServicer_to_server(servicer, srv),
                lambda srv: webhooks_pb2_grpc.add_WebhooksServiceServicer_to_server(
                    WebhooksServicer(hooks.service), srv
                ),
            ],
            service_names=[
                tasks_pb2.DESCRIPTOR.services_by_name["TasksService"].full_name,
                WEBHOOKS_SERVICE,
            ],
            health=self.loops,
            access=access_from(s, ServiceName.TASKS, access.RULES),
            tracing=self.tracing,
        )
        return await self._server.start()

    def _webhooks(self, pool: asyncpg.Pool) -> Webhooks:
        s = self.settings
        guard = UrlGuard(
            allow_list=AllowList.parse(s.webhook_allow_list),
            allow_http=s.webhook_allow_http,
            resolver=system_resolver if s.webhook_resolve_names else no_names,
            allow_listed_only=s.webhook_allow_listed_only,
        )
        config = SenderConfig(total_timeout=s.webhook_timeout_seconds)
        store = WebhookStore()
        box = SecretBox(self._sealing_key())
        service = WebhookService(
            pool,
            store,
            guard,
            max_endpoints=s.webhook_max_endpoints,
            secret_overlap_seconds=s.webhook_secret_overlap_hours * 3600,
            box=box,
        )
        dispatcher = None
        if s.webhook_delivery_enabled:
            dispatcher = WebhookDispatcher(
                pool,
                store,
                WebhookSender(guard, config=config),
                poll_seconds=s.webhook_poll_seconds,
                concurrency=s.webhook_concurrency,
                per_user=s.webhook_per_user_concurrency,
                # Past its lease a delivery is another sender's: a whole attempt fits twice.
                lease_seconds=2 * config.total_timeout + 1,
                retention_days=s.webhook_retention_days,
                box=box,
            )
        events = WebhookEvents(
            store,
            clock=lambda: dt.datetime.now(dt.UTC),
            wake=dispatcher.wake if dispatcher is not None else None,
        )
        return Webhooks(service, Callbacks(store, service), events, dispatcher)

    def _sealing_key(self) -> bytes:
        configured = self.settings.webhook_secret_key.get_secret_value()
        if configured:
            return parse_key(configured)
        # Only outside production (the settings refuse an empty one there).
        _log.warning("no VOIDRUNNER_WEBHOOK_SECRET_KEY: webhook secrets last until a restart")
        return parse_key(generate_key())

    async def _record(self, loop: Loop) -> None:
        assert self._recorder is not None
        js = (await self._nats.connected()).jetstream()
        await declare_pipeline(js)
        loop.ready()
        await self._recorder.run(js, loop.stop)

    async def stop(self) -> None:
        """Drain RPCs, stop the loops, then close NATS and the pool."""
        self.metrics.stop()
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_seconds)
        await self.loops.stop(LOOP_GRACE_SECONDS)
        await self._nats.drain()
        if self._pool is not None:
            await self._pool.close()
        await self.tracing.shutdown()
