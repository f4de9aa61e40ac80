"""The operator's figures over a window of minutes (GetStats), from PostgreSQL.

Read from the database rather than from any process's memory, so every replica answers the same.
Only counts, percentiles and ages: no user, task or execution is named.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import asyncpg

from voidrunner.common.db import Queries
from voidrunner.common.errors import InvalidArgument
from voidrunner.contracts.results import timestamp
from voidrunner.proto.tasks.v1 import tasks_pb2
from voidrunner.tasks.errors import AccessDenied
from voidrunner.tasks.service import Caller

MAX_WINDOW_MINUTES = 1440


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ms(value: float | None) -> float:
    return -1.0 if value is None else round(float(value), 1)


class PlatformStats:
    """Collects GetStats' figures in one read-only transaction (one consistent snapshot)."""

    def __init__(
        self, pool: asyncpg.Pool, queries: Queries, clock: Callable[[], dt.datetime] = _now
    ) -> None:
        self._pool = pool
        self._q = queries
        self._clock = clock

    async def collect(self, caller: Caller, window_minutes: int) -> tasks_pb2.GetStatsResponse:
        """The figures of the last `window_minutes` (1 to 1440); admins and services only."""
        if not caller.privileged:
            raise AccessDenied
        if not 1 <= window_minutes <= MAX_WINDOW_MINUTES:
            raise InvalidArgument(f"window_minutes must be 1 to {MAX_WINDOW_MINUTES}")
        as_of = self._clock()
        since = as_of - dt.timedelta(minutes=window_minutes)
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            active = await conn.fetchrow(self._q.stats_active)
            by_status = await conn.fetch(self._q.stats_by_status, since)
            runtimes = await conn.fetch(self._q.stats_by_runtime, since)
            minutes = await conn.fetch(self._q.stats_per_minute, since)
            outbox = await conn.fetchrow(self._q.stats_outbox)
        if active is None or outbox is None:  # an aggregate without GROUP BY always has a row
            raise RuntimeError("stats aggregate returned no row")
        statuses: dict[str, int] = {}
        reasons: dict[str, int] = {}
        for row in by_status:
            statuses[row["status"]] = statuses.get(row["status"], 0) + row["n"]
            if row["termination_reason"] is not None:
                reason = row["termination_reason"]
                reasons[reason] = reasons.get(reason, 0) + row["n"]
        return tasks_pb2.GetStatsResponse(
            as_of=timestamp(as_of),
            window_minutes=window_minutes,
            pending=active["pending"],
            running=active["running"],
            accepted=sum(statuses.values()),
            by_status=[tasks_pb2.CountByName(name=k, count=v) for k, v in sorted(statuses.items())],
            by_termination_reason=[
                tasks_pb2.CountByName(name=k, count=v) for k, v in sorted(reasons.items())
            ],
            runtimes=[
                tasks_pb2.RuntimeStats(
                    runtime=r["runtime"],
                    executions=r["executions"],
                    unsuccessful=r["unsuccessful"],
                    run_p50_ms=_ms(r["run_p50"]),
                    run_p95_ms=_ms(r["run_p95"]),
                    queue_wait_p50_ms=_ms(r["wait_p50"]),
                    queue_wait_p95_ms=_ms(r["wait_p95"]),
                )
                for r in runtimes
            ],
            per_minute=[
                tasks_pb2.MinuteStats(
                    minute=timestamp(m["minute"]), accepted=m["accepted"], finished=m["finished"]
                )
                for m in minutes
            ],
            outbox_pending=outbox["pending"],
            outbox_oldest_seconds=round(float(outbox["oldest_seconds"]), 3),
        )
