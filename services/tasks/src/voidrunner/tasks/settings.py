"""The tasks service's settings (environment variables prefixed VOIDRUNNER_).

Resource fields of a task default to its runtime's limits and may not exceed the operator's caps,
both from the runtime catalogue (`runtimes_file`); the gateway checks the same policy through
ListRuntimes.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from voidrunner.common.settings import BaseServiceSettings
from voidrunner.contracts import topology


class TasksSettings(BaseServiceSettings):
    service_name: str = "tasks"
    database_url: SecretStr = SecretStr("")
    # `migrate up` only: an administrator's URL that provisions the role database_url names
    # (voidrunner.common.database_roles). Unset: the role exists already.
    database_admin_url: SecretStr = SecretStr("")
    nats_url: str = "nats://127.0.0.1:4222"
    # Loopback unless told otherwise: a container or pod sets 0.0.0.0.
    tasks_grpc_host: str = "127.0.0.1"
    tasks_grpc_port: int = 50052
    # The runtime catalogue's operator override (TOML merged over the bundled one): the
    # languages tasks may use, the limits a task gets by default, and the caps. Executors load
    # the same file, so what a task is given is what runs.
    runtimes_file: Path | None = None
    # The operator's caps on a task's or run's files and test cases, and on a batch of runs.
    max_files: int = Field(default=100, ge=1, le=10_000)
    max_files_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_test_cases: int = Field(default=100, ge=1, le=10_000)
    max_batch: int = Field(default=20, ge=1, le=1000)
    # Core NATS subject on which executors listen for CancelRequest messages.
    cancel_subject: str = topology.CANCEL_SUBJECT
    # Postgres NOTIFY channel raised (on commit) when an outbox row is written.
    outbox_channel: str = "voidrunner_outbox"
    # Relay committed jobs from the outbox to the scheduler's stream (any number of replicas).
    outbox_relay_enabled: bool = True
    # Record executors' started/result events from NATS (off only in tests of the API alone).
    event_recorder_enabled: bool = True
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    db_pool_size: int = Field(default=10, ge=1)
    shutdown_grace_seconds: float = 10.0

    # Webhooks (tasks.webhooks): deliveries go out from this process. Receivers must be https
    # on public addresses; the allow-list (CIDRs such as 10.1.0.0/16, or host:port) is the only
    # way to a private one, and http is for development and tests only.
    webhook_delivery_enabled: bool = True
    webhook_allow_http: bool = False
    webhook_allow_list: list[str] = Field(default_factory=list)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    # False: names never resolve, so only IP-literal URLs work (test stacks: no test may send
    # DNS queries off the machine).
    webhook_resolve_names: bool = True
    # True: only allow-listed addresses, public ones refused too (closed networks; test stacks,
    # where a fuzzed URL must never make the platform send to an address on the internet).
    webhook_allow_listed_only: bool = False
    # One attempt's whole budget: resolution, connection, TLS, request and the capped answer.
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    webhook_concurrency: int = Field(default=16, ge=1, le=512)
    # Attempts one user's deliveries may have in flight at once (a slow receiver waits its
    # turn instead of holding every slot).
    webhook_per_user_concurrency: int = Field(default=4, ge=1, le=512)
    webhook_max_endpoints: int = Field(default=20, ge=1, le=1000)
    # How long a rotated-out secret keeps signing beside the new one.
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0, le=24 * 30)
    # Delivered and failed deliveries (and their attempts) are kept this long.
    webhook_retention_days: int = Field(default=30, ge=1, le=3650)

    # Seals users' webhook signing secrets at rest (base64 of 32 bytes; tasks.webhooks.sealing).
    # Required in production; elsewhere a missing one is made up per process (and secrets saved
    # under it stop opening at its restart, which `make run` avoids by keeping one in .data).
    webhook_secret_key: SecretStr = SecretStr("")

    secret_fields: tuple[str, ...] = ("database_url", "webhook_secret_key")

    @model_validator(mode="after")
    def _https_in_production(self) -> TasksSettings:
        if self.is_production and self.webhook_allow_http:
            msg = "VOIDRUNNER_WEBHOOK_ALLOW_HTTP is for development and tests, not production"
            raise ValueError(msg)
        return self
