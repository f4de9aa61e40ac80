"""The settings base every service extends: environment-driven, parsed once, failing closed."""

from __future__ import annotations

import enum
from typing import Any

from pydantic import model_validator
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


class BaseServiceSettings(BaseSettings):
    """Common settings. Subclasses list their secrets in `secret_fields`.

    Outside development and test, a secret that is empty or a known placeholder refuses to start.
    """

    model_config = SettingsConfigDict(env_prefix="VOIDRUNNER_", extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.AUTO
    service_name: str = "voidrunner"

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


def _is_placeholder(value: Any) -> bool:
    if value is None:
        return True
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text.strip().lower() in PLACEHOLDER_SECRETS
