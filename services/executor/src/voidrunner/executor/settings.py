"""The executor's settings (environment variables prefixed VOIDRUNNER_). No database credentials."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field

from voidrunner.common.settings import BaseServiceSettings
from voidrunner.contracts.output import MAX_COMPILE_OUTPUT_BYTES
from voidrunner.executor.sandbox.uid_range import DEFAULT_UID_BASE, MAX_UID


def _default_executor_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ExecutorSettings(BaseServiceSettings):
    service_name: str = "executor"
    nats_url: str = "nats://127.0.0.1:4222"
    # Serves only grpc.health.v1 (for probes); the work arrives over NATS.
    # Loopback unless told otherwise: a pod sets 0.0.0.0 for its probes.
    executor_health_host: str = "127.0.0.1"
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
    # An operator's runtime catalogue override (TOML, merged over the bundled one); its [caps]
    # are applied to every job whatever it asks for. Give the tasks service the same file.
    runtimes_file: Path | None = None
    # bwrap: sandboxes kept started ahead of demand per runtime that allows it (python), each
    # used by one run (sandbox/bwrap_warm.py): a hello-world starts in a third of the time. Each
    # holds a uid and about 10 MiB while it waits.
    sandbox_warm_pool: int = Field(default=2, ge=0, le=16)
    # bwrap, executor started as root: each run (and each warm sandbox) runs as its own host uid
    # and gid from sandbox_uid_base on (see sandbox/uid_range.py for the default): executor_slots
    # plus sandbox_warm_pool per warm runtime of them. Executors sharing a host need disjoint
    # ranges: bases at least that many apart.
    sandbox_uid_base: int = Field(default=DEFAULT_UID_BASE, ge=1, le=MAX_UID)
    # Started as root, the executor process keeps only the capabilities its backend needs once
    # it is set up (privileges.py; the kept set is logged). Off: it keeps all of root's.
    executor_drop_capabilities: bool = True
    # A prebuilt vr-launch for the bwrap backend (else it is compiled with the host's cc).
    sandbox_launcher: Path | None = None
    # The most of a compile step's output (stdout and stderr together) that is kept.
    compile_output_bytes: int = Field(default=256 * 1024, ge=1024, le=MAX_COMPILE_OUTPUT_BYTES)
    # A job is redelivered after ack_wait without a heartbeat (sent every heartbeat_seconds).
    ack_wait_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    max_deliver: int = Field(default=3, ge=1)
    # On SIGTERM, running jobs get this long to finish before they are handed back.
    shutdown_grace_seconds: float = 30.0
    # Log chunks are batched up to this size or age before publishing.
    log_batch_bytes: int = 16 * 1024
    log_batch_ms: int = 50
