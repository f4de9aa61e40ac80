"""The gateway's settings (environment variables prefixed VOIDRUNNER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from voidrunner.common.settings import BaseServiceSettings

# Every per-route limit: the setting rate_limit_<name>, as routes name it in per_user / per_ip.
RATE_LIMITS = (
    "register",
    "login",
    "refresh",
    "task_create",
    "tasks",
    "execution_start",
    "executions",
    "api_keys",
    "webhooks",
    "admin",
)


def rate_limits_at(value: int) -> dict[str, int]:
    """Settings that put every per-route limit at `value` (tests and benchmarks keep the limiter
    on, counting, but out of the way)."""
    return {f"rate_limit_{name}": value for name in RATE_LIMITS}


class GatewaySettings(BaseServiceSettings):
    service_name: str = "gateway"
    version: str = "0.1.0"
    # Loopback unless told otherwise: set 0.0.0.0 to serve other machines on purpose.
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    # Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed (e.g.
    # the ingress); empty: the peer address is the client (right when nothing proxies).
    trusted_proxies: str = ""
    auth_addr: str = "127.0.0.1:50051"
    tasks_addr: str = "127.0.0.1:50052"
    nats_url: str = "nats://127.0.0.1:4222"
    # A comma-free JSON list in the environment, e.g. VOIDRUNNER_CORS_ORIGINS='["http://localhost:3000"]'.
    cors_origins: list[str] = Field(default_factory=lambda: ["http://localhost:3000"])
    cors_methods: list[str] = Field(
        default_factory=lambda: ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
    )
    cors_headers: list[str] = Field(
        default_factory=lambda: ["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"]
    )
    # The built web UI (web/dist, `make web`), served at / ; None: no UI, only the API.
    web_dir: Path | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Routes that take files (tasks, runs, batches) have a body limit of their own, allowing for
    # base64 (the tasks service's max_files_bytes bounds the decoded files).
    max_files_body_bytes: int = Field(default=10 * 1_048_576, ge=1024)
    # How long a call to a backend service may take before the gateway answers 503/504.
    rpc_timeout_seconds: float = 10.0
    # Serve requests only once the auth service's public keys are known.
    startup_timeout_seconds: float = 60.0
    # Worker processes serving the API (1: in the main process).
    uvicorn_workers: int = Field(default=1, ge=1, le=64)
    # Rate limits: requests per window, counted in NATS KV and shared by every replica.
    # How often the API keys used meanwhile are reported to the auth service ("last used").
    api_key_touch_seconds: float = Field(default=5.0, gt=0)
    rate_limit_enabled: bool = True
    rate_limit_window_seconds: int = Field(default=3600, ge=1)
    rate_limit_register: int = Field(default=5, ge=1)  # per client IP
    rate_limit_login: int = Field(default=10, ge=1)  # per client IP
    rate_limit_refresh: int = Field(default=100, ge=1)  # per client IP
    rate_limit_task_create: int = Field(default=20, ge=1)  # per user
    rate_limit_tasks: int = Field(default=100, ge=1)  # per user: other task calls
    rate_limit_execution_start: int = Field(default=30, ge=1)  # per user
    rate_limit_executions: int = Field(default=50, ge=1)  # per user: other execution calls
    rate_limit_api_keys: int = Field(default=50, ge=1)  # per user: API-key calls
    rate_limit_webhooks: int = Field(default=200, ge=1)  # per user: webhook calls
    # Per admin: the ops page reads two admin routes every 5 s (1,440 calls an hour).
    rate_limit_admin: int = Field(default=3600, ge=1)
    # How long a counter update may take before the limiter counts as unavailable.
    rate_limit_timeout_seconds: float = Field(default=0.5, gt=0)
    # Unavailable limiter: let requests through with a warning (true) or answer 503 (false).
    rate_limit_fail_open: bool = True
