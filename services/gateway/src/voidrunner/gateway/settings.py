"""The gateway's settings (environment variables prefixed VOIDRUNNER_)."""

from __future__ import annotations

from pydantic import Field

from voidrunner.common.settings import BaseServiceSettings


class GatewaySettings(BaseServiceSettings):
    service_name: str = "gateway"
    version: str = "0.1.0"
    gateway_host: str = "0.0.0.0"  # noqa: S104 - the public entry point listens on all addresses
    gateway_port: int = 8080
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
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # How long a call to a backend service may take before the gateway answers 503/504.
    rpc_timeout_seconds: float = 10.0
    # Serve requests only once the auth service's public keys are known.
    startup_timeout_seconds: float = 60.0
    uvicorn_workers: int = 1
