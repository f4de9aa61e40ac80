"""The executor service's settings (environment variables prefixed VOIDRUNNER_)."""

from __future__ import annotations

from voidrunner.common.settings import BaseServiceSettings


class ExecutorSettings(BaseServiceSettings):
    service_name: str = "executor"
    nats_url: str = "nats://127.0.0.1:4222"
    # Serves only grpc.health.v1 (for probes); the work arrives over NATS.
    executor_health_host: str = "0.0.0.0"  # noqa: S104 - probes reach the pod address
    executor_health_port: int = 50054
    shutdown_grace_seconds: float = 10.0
