"""GET /api/v1/admin/stats and /admin/executors: the operator's view, for admins only.

Windows over time come from PostgreSQL through the tasks service (every replica agrees); the
lanes' depth from JetStream's consumer info; executors, slots and heartbeats from the executors'
own status entries (topology.EXECUTORS_BUCKET).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from nats.aio.client import Client as NATS

from voidrunner.contracts.executors import ExecutorStatus
from voidrunner.contracts.streams import lane_depths
from voidrunner.contracts.topology import EXECUTORS_BUCKET
from voidrunner.gateway.bucket_reads import bucket_values
from voidrunner.gateway.deps import AdminUser, Backends, Deps
from voidrunner.gateway.errors import ApiError
from voidrunner.gateway.ratelimit import per_user
from voidrunner.gateway.routes.tasks import call, caller
from voidrunner.gateway.schemas.admin import (
    ActiveStats,
    AdminStats,
    CapacityStats,
    Executor,
    ExecutorList,
    LaneStats,
    MinuteStats,
    OutboxStats,
    Percentiles,
    RuntimeStats,
    WindowStats,
)
from voidrunner.gateway.schemas.common import ERROR_RESPONSES, ErrorBody
from voidrunner.proto.tasks.v1 import tasks_pb2

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    responses={
        **ERROR_RESPONSES,
        403: {
            "model": ErrorBody,
            "description": "Not an admin (or an API key without the admin scope, or whose owner "
            "is not an admin)",
        },
    },
)


def _nats(deps: Backends) -> NATS:
    if deps.nc is None or not deps.nc.is_connected:
        raise ApiError(503, "Service temporarily unavailable")
    return deps.nc


async def executor_statuses(deps: Backends) -> list[ExecutorStatus]:
    """Every live executor's last status, by id (malformed entries are skipped)."""
    found = []
    for value in await bucket_values(_nats(deps), EXECUTORS_BUCKET):
        try:
            found.append(ExecutorStatus.decode(value))
        except (ValueError, KeyError, TypeError):
            continue
    return found


def _percentiles(p50: float, p95: float) -> Percentiles:
    return Percentiles(p50=None if p50 < 0 else p50, p95=None if p95 < 0 else p95)


def _executor(status: ExecutorStatus) -> Executor:
    return Executor(
        id=status.executor_id,
        backend=status.backend,
        runtimes=list(status.runtimes),
        slots=status.slots,
        busy=status.busy,
        draining=status.draining,
        started_at=status.started_at,
        last_heartbeat_at=status.heartbeat_at,
    )


@router.get("/executors", response_model=ExecutorList, dependencies=[per_user("admin")])
async def admin_executors(_admin: AdminUser, deps: Deps) -> ExecutorList:
    """Live executors with their runtimes, slots and last heartbeat."""
    return ExecutorList(executors=[_executor(s) for s in await executor_statuses(deps)])


@router.get("/stats", response_model=AdminStats, dependencies=[per_user("admin")])
async def admin_stats(
    admin: AdminUser,
    deps: Deps,
    window: Annotated[
        int, Query(ge=1, le=1440, description="Minutes back from now the window covers")
    ] = 60,
) -> AdminStats:
    """Executions now and over the window, the lanes' depth, the outbox and the capacity."""
    nc = _nats(deps)
    figures, lanes, statuses = await asyncio.gather(
        call(
            deps.tasks.GetStats,
            tasks_pb2.GetStatsRequest(caller=caller(admin), window_minutes=window),
            deps,
        ),
        lane_depths(nc.jetstream()),
        executor_statuses(deps),
    )
    return AdminStats(
        as_of=figures.as_of.ToDatetime(tzinfo=dt.UTC),
        active=ActiveStats(pending=figures.pending, running=figures.running),
        window=WindowStats(
            minutes=figures.window_minutes,
            accepted=figures.accepted,
            by_status={c.name: c.count for c in figures.by_status},
            by_termination_reason={c.name: c.count for c in figures.by_termination_reason},
            runtimes=[
                RuntimeStats(
                    runtime=r.runtime,
                    executions=r.executions,
                    unsuccessful=r.unsuccessful,
                    run_ms=_percentiles(r.run_p50_ms, r.run_p95_ms),
                    queue_wait_ms=_percentiles(r.queue_wait_p50_ms, r.queue_wait_p95_ms),
                )
                for r in figures.runtimes
            ],
            per_minute=[
                MinuteStats(
                    minute=m.minute.ToDatetime(tzinfo=dt.UTC),
                    accepted=m.accepted,
                    finished=m.finished,
                )
                for m in figures.per_minute
            ],
        ),
        lanes=[
            LaneStats(
                lane=d.lane, pending=d.pending, in_flight=d.in_flight, redelivered=d.redelivered
            )
            for d in lanes
        ],
        outbox=OutboxStats(
            pending=figures.outbox_pending, oldest_seconds=figures.outbox_oldest_seconds
        ),
        capacity=CapacityStats(
            executors=len(statuses),
            slots=sum(s.slots for s in statuses),
            busy=sum(s.busy for s in statuses),
        ),
    )
