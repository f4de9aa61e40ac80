"""Bodies of /api/v1/auth/api-keys and /api/v1/auth/password."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

from voidrunner.contracts.api_keys import Scope
from voidrunner.gateway.schemas.auth import Password, _text
from voidrunner.gateway.schemas.tasks import Pagination

_strict = ConfigDict(extra="ignore", strict=True)


def _key_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("required", "name must not be blank")
    if len(value) > 100:
        raise PydanticCustomError("max", "name must be at most 100 characters")
    return value


def _scopes(value: list[Scope]) -> list[Scope]:
    if not value:
        raise PydanticCustomError("min", "scopes must not be empty")
    if len(set(value)) != len(value):
        raise PydanticCustomError("unique", "scopes must not repeat")
    return value


def _future(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise PydanticCustomError(
            "datetime", "expires_at must be an RFC 3339 timestamp with a zone"
        )
    if value <= dt.datetime.now(dt.UTC):
        raise PydanticCustomError("future", "expires_at must be in the future")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # a zone offset past year 9999
        raise PydanticCustomError("datetime", "expires_at is out of range") from None


def _rfc3339(value: object) -> object:
    # strict mode takes no strings for datetimes; JSON has no other way to send one.
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "datetime", "expires_at must be an RFC 3339 timestamp"
            ) from None
    return value


# JSON sends a scope as text; strict mode would take only a Scope instance.
_ScopeName = Annotated[Scope, Strict(strict=False)]


class CreateApiKeyRequest(BaseModel):
    model_config = _strict
    name: Annotated[str, AfterValidator(_text), AfterValidator(_key_name)] = Field(
        examples=["CI runner"]
    )
    scopes: Annotated[list[_ScopeName], AfterValidator(_scopes)] = Field(
        examples=[["read", "run"]], json_schema_extra={"uniqueItems": True, "minItems": 1}
    )
    expires_at: Annotated[
        dt.datetime | None, BeforeValidator(_rfc3339), AfterValidator(_future)
    ] = Field(default=None, examples=["2030-01-01T00:00:00Z"])


class ApiKey(BaseModel):
    id: uuid.UUID
    name: str
    scopes: list[Scope]
    prefix: str = Field(examples=["vr_9Vx3qZVG"])
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None


class CreatedApiKey(ApiKey):
    key: str = Field(description="The whole key: shown here only, once")


class ApiKeyList(BaseModel):
    api_keys: list[ApiKey]
    pagination: Pagination


class ChangePasswordRequest(BaseModel):
    model_config = _strict
    current_password: Annotated[str, AfterValidator(_text)] = Field(
        min_length=1, max_length=1024, examples=["Sup3r-secret!"]
    )
    new_password: Password = Field(examples=["Ev3n-more-secret!"])
