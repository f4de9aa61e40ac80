"""The auth service's settings (environment variables prefixed VOIDRUNNER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from voidrunner.common.settings import BaseServiceSettings


class AuthSettings(BaseServiceSettings):
    service_name: str = "auth"
    database_url: SecretStr = SecretStr("")
    # `migrate up` only: an administrator's URL that provisions the role database_url names
    # (voidrunner.common.database_roles). Unset: the role exists already.
    database_admin_url: SecretStr = SecretStr("")
    nats_url: str = "nats://127.0.0.1:4222"
    # Loopback unless told otherwise: a container or pod sets 0.0.0.0.
    auth_grpc_host: str = "127.0.0.1"
    auth_grpc_port: int = 50051
    # PEM of an Ed25519 private key. Required in production; in development a key is generated
    # on first start into auth_key_file.
    auth_signing_key: SecretStr = SecretStr("")
    auth_key_file: Path = Path(".data/auth/signing_key.pem")
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=7 * 86_400, ge=300, le=90 * 86_400)
    token_issuer: str = "voidrunner"
    token_audience: str = "voidrunner-api"
    revocation_sync_seconds: float = 30.0
    # How often the valid-API-keys bucket is rebuilt from PostgreSQL (it also is on start).
    api_key_rebuild_seconds: float = Field(default=300.0, gt=0)
    # argon2id cost; lower only in tests.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536
    argon2_parallelism: int = 2
    shutdown_grace_seconds: float = 10.0

    secret_fields: tuple[str, ...] = ("database_url", "auth_signing_key")
