"""The scheduler service's settings (environment variables prefixed VOIDRUNNER_)."""

from __future__ import annotations

from voidrunner.common.settings import BaseServiceSettings


class SchedulerSettings(BaseServiceSettings):
    service_name: str = "scheduler"
    nats_url: str = "nats://127.0.0.1:4222"
    # Serves only grpc.health.v1 (for probes); the work arrives over NATS.
    scheduler_health_host: str = "0.0.0.0"  # noqa: S104 - probes reach the pod address
    scheduler_health_port: int = 50053
    shutdown_grace_seconds: float = 10.0
