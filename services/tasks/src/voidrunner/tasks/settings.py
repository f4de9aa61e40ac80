"""The tasks service's settings (environment variables prefixed VOIDRUNNER_).

Resource fields of a task default to the operator's defaults and may not exceed the operator's
caps; the gateway checks only the static lower bounds of the public contract.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from voidrunner.common.settings import BaseServiceSettings
from voidrunner.contracts import topology


class TasksSettings(BaseServiceSettings):
    service_name: str = "tasks"
    database_url: SecretStr = SecretStr("")
    nats_url: str = "nats://127.0.0.1:4222"
    tasks_grpc_host: str = "0.0.0.0"  # noqa: S104 - a service listens on its pod/container address  # nosec B104
    tasks_grpc_port: int = 50052
    # The languages a task may use; operators add runtimes they installed on the executors.
    runtimes: list[str] = Field(default_factory=lambda: ["python", "javascript", "bash", "go"])
    default_memory_limit_mb: int = Field(default=256, ge=16)
    max_memory_limit_mb: int = Field(default=2048, ge=16)
    default_cpu_limit: float = Field(default=1.0, ge=0.1)
    max_cpu_limit: float = Field(default=4.0, ge=0.1)
    default_max_output_bytes: int = Field(default=1_048_576, ge=1024)
    max_max_output_bytes: int = Field(default=10 * 1_048_576, ge=1024)
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

    secret_fields: tuple[str, ...] = ("database_url",)

    @model_validator(mode="after")
    def _defaults_within_caps(self) -> TasksSettings:
        pairs = (
            ("default_memory_limit_mb", "max_memory_limit_mb"),
            ("default_cpu_limit", "max_cpu_limit"),
            ("default_max_output_bytes", "max_max_output_bytes"),
        )
        for default, cap in pairs:
            if getattr(self, default) > getattr(self, cap):
                msg = f"{default} must not exceed {cap}"
                raise ValueError(msg)
        if not self.runtimes:
            msg = "runtimes must list at least one language"
            raise ValueError(msg)
        return self
