"""The settings base every service extends: environment-driven, parsed once, failing closed."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that must never reach production as a secret.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev", "development", "test"}
)


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class LogFormat(enum.StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


# How long an idle pull consumer's fetch waits for a message. A message is handed over the moment
# it arrives whatever this is; what it bounds is how long a stopping loop waits for its last
# fetch (a graceful stop lets that fetch end rather than cancel it, which would strand a message
# delivered to the cancelled request until its ack wait), for 4 idle JetStream requests a second
# per consumer. At 1 s, every scheduler and tasks process took a second to stop.
IDLE_FETCH_SECONDS = 0.25


class BaseServiceSettings(BaseSettings):
    """Common settings. Subclasses list their secrets in `secret_fields`.

    Outside development and test, a secret that is empty or a known placeholder refuses to start.
    """

    model_config = SettingsConfigDict(env_prefix="VOIDRUNNER_", extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.AUTO
    service_name: str = "voidrunner"
    # A crashed background loop restarts after a delay that doubles from the first to the longest
    # (seconds), and starts from the first again after a healthy spell (see common.supervision).
    loop_restart_first_seconds: float = Field(default=0.5, gt=0)
    loop_restart_max_seconds: float = Field(default=10.0, gt=0)
    # How long an idle pull consumer's fetch waits (see IDLE_FETCH_SECONDS); the test fixtures
    # shorten it, as each of their services stops once per test.
    jetstream_idle_fetch_seconds: float = Field(default=IDLE_FETCH_SECONDS, gt=0, le=5)

    # Identity inside the perimeter (README.md, "Security"). This service's Ed25519 key, which
    # signs the tokens of its gRPC calls; the public keys (<service>.pub) of the services that
    # may call this one; the seed of its NATS user (nkey), which NATS's permissions are for.
    service_key_file: Path | None = None
    service_keys_dir: Path | None = None
    nats_seed_file: Path | None = None

    # Prometheus metrics (`/metrics`) on a port of their own; off unless a port is set, which every
    # deploy configuration does (loopback under `make run`). 0 takes a free port.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    # Traces (OpenTelemetry, OTLP over gRPC): off unless an endpoint is set, e.g.
    # http://otel-collector:4317 (plaintext) or https://... (TLS). Roots are sampled at the ratio;
    # spans wait in a bounded queue and are dropped, never waited for, when the collector lags.
    otlp_endpoint: str | None = None
    otlp_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    trace_queue_size: int = Field(default=2048, ge=1, le=1_000_000)
    trace_export_delay_ms: int = Field(default=2000, ge=10, le=60_000)

    secret_fields: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> BaseServiceSettings:
        if self.environment is not Environment.PRODUCTION:
            return self
        bad = [name for name in self.secret_fields if _is_placeholder(getattr(self, name))]
        if bad:
            names = ", ".join(f"VOIDRUNNER_{n.upper()}" for n in bad)
            msg = f"refusing to start in production with missing or placeholder secrets: {names}"
            raise ValueError(msg)
        return self


class MissingCredential(RuntimeError):
    """A credential this service cannot run without is not configured."""


def require_path(settings: BaseServiceSettings, field: str, purpose: str) -> Path:
    """The configured path of `field`, or MissingCredential saying what it is for."""
    value = getattr(settings, field)
    if value is None:
        msg = (
            f"VOIDRUNNER_{field.upper()} is not set: the {settings.service_name} service {purpose} "
            "(make run and make up generate it; see README.md, 'Security')"
        )
        raise MissingCredential(msg)
    path: Path = value
    return path


def _is_placeholder(value: Any) -> bool:
    if value is None:
        return True
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text.strip().lower() in PLACEHOLDER_SECRETS
