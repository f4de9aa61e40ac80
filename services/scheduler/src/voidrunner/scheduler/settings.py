"""The scheduler's settings (environment variables prefixed VOIDRUNNER_); no DB credentials."""

from __future__ import annotations

from pydantic import Field

from voidrunner.common.settings import BaseServiceSettings


class SchedulerSettings(BaseServiceSettings):
    service_name: str = "scheduler"
    nats_url: str = "nats://127.0.0.1:4222"
    tasks_addr: str = "127.0.0.1:50052"
    # Serves only grpc.health.v1 (for probes); the work arrives over NATS.
    # Loopback unless told otherwise: a pod sets 0.0.0.0 for its probes.
    scheduler_health_host: str = "127.0.0.1"
    scheduler_health_port: int = 50053
    # At most this many executions of one user are dispatched (pending on executors or running).
    per_user_concurrency: int = Field(default=5, ge=1)
    # A user at the limit has their next request retried after this delay.
    concurrency_retry_seconds: float = 1.0
    # Executors give up on a job after this many deliveries (must match the executors' setting).
    max_deliver: int = Field(default=3, ge=1)
    # The reaper looks for executions past their deadline plus this grace, every interval.
    reaper_interval_seconds: float = 15.0
    reaper_grace_seconds: float = 60.0
    # A pending execution not picked up for this long is queued again, up to reaper_max_requeues.
    pending_timeout_seconds: float = 300.0
    reaper_max_requeues: int = 2
    shutdown_grace_seconds: float = 10.0
