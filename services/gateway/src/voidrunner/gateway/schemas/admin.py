"""Bodies of the admin routes: the operator's figures and the live executors."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class Percentiles(BaseModel):
    """Milliseconds; null when nothing in the window had the figure."""

    p50: float | None
    p95: float | None


class RuntimeStats(BaseModel):
    runtime: str
    executions: int = Field(description="Accepted in the window")
    unsuccessful: int = Field(description="Of those, ended failed, timeout or cancelled")
    run_ms: Percentiles = Field(description="Run time of the finished ones")
    queue_wait_ms: Percentiles = Field(description="Acceptance to an executor's start")


class MinuteStats(BaseModel):
    minute: dt.datetime
    accepted: int
    finished: int


class WindowStats(BaseModel):
    minutes: int
    accepted: int = Field(description="Executions accepted in the window")
    by_status: dict[str, int] = Field(description="The window's executions by their status now")
    by_termination_reason: dict[str, int] = Field(
        description="The window's final executions by why they ended"
    )
    runtimes: list[RuntimeStats]
    per_minute: list[MinuteStats] = Field(description="Every minute of the window, oldest first")


class ActiveStats(BaseModel):
    pending: int = Field(description="Accepted, waiting for an executor")
    running: int


class LaneStats(BaseModel):
    lane: str
    pending: int = Field(description="Jobs no executor has taken yet (the consumer's lag)")
    in_flight: int = Field(description="Delivered to an executor, not yet settled")
    redelivered: int


class OutboxStats(BaseModel):
    pending: int = Field(description="Executions accepted but not yet handed to NATS")
    oldest_seconds: float = Field(description="Age of the oldest of them (0 when none)")


class CapacityStats(BaseModel):
    executors: int = Field(description="Live executors (a status within the last 30 s)")
    slots: int
    busy: int


class AdminStats(BaseModel):
    as_of: dt.datetime
    active: ActiveStats
    window: WindowStats
    lanes: list[LaneStats]
    outbox: OutboxStats
    capacity: CapacityStats


class Executor(BaseModel):
    id: str
    backend: str
    runtimes: list[str] = Field(description="Runtimes it can run now")
    slots: int
    busy: int
    draining: bool = Field(description="Stopping: it takes no new job")
    started_at: dt.datetime
    last_heartbeat_at: dt.datetime


class ExecutorList(BaseModel):
    executors: list[Executor]
