"""The executor's settings (environment variables prefixed VOIDRUNNER_). No database credentials."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field

from voidrunner.common.settings import BaseServiceSettings


def _default_executor_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ExecutorSettings(BaseServiceSettings):
    service_name: str = "executor"
    nats_url: str = "nats://127.0.0.1:4222"
    # Serves only grpc.health.v1 (for probes); the work arrives over NATS.
    executor_health_host: str = "0.0.0.0"  # noqa: S104 - probes reach the pod address  # nosec B104
    executor_health_port: int = 50054
    executor_id: str = Field(default_factory=_default_executor_id)
    # How many sandboxes run at once in this process.
    executor_slots: int = Field(default=2, ge=1, le=256)
    sandbox_backend: Literal["bwrap", "docker"] = "bwrap"
    docker_host: str = "unix:///var/run/docker.sock"
    docker_runtime: str = "runsc"
    docker_warm_pool: int = Field(default=0, ge=0, le=64)
    # Labels this executor's containers; on start it removes what an earlier process with the
    # same owner left behind (a crash). Must differ between executors sharing one engine.
    docker_owner: str = Field(default_factory=socket.gethostname)
    # An operator's runtime catalogue override (TOML, merged over the bundled one).
    runtimes_file: Path | None = None
    # Operator caps applied to every job, whatever it asks for.
    cap_timeout_seconds: float = 3600
    cap_memory_mb: int = 2048
    cap_cpu: float = 4.0
    cap_max_output_bytes: int = 16 * 1024 * 1024
    cap_pids: int = 256
    cap_tmp_mb: int = 1024
    # A job is redelivered after ack_wait without a heartbeat (sent every heartbeat_seconds).
    ack_wait_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    max_deliver: int = Field(default=3, ge=1)
    # On SIGTERM, running jobs get this long to finish before they are handed back.
    shutdown_grace_seconds: float = 30.0
    # Log chunks are batched up to this size or age before publishing.
    log_batch_bytes: int = 16 * 1024
    log_batch_ms: int = 50
