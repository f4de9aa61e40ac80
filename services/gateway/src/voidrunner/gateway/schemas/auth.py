"""Bodies of /api/v1/auth."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from voidrunner.common.text import is_storable_text

SPECIALS = frozenset("!@#$%^&*()_+-=[]{};':\"\\|,.<>/?~`")


def _text(value: str, info: ValidationInfo) -> str:
    # NUL and lone surrogates can be neither stored nor looked up: refused before any backend call.
    if not is_storable_text(value):
        raise PydanticCustomError(
            "format",
            "{field} must not contain NUL or invalid characters",
            {"field": info.field_name},
        )
    return value


def _email(value: str) -> str:
    value = value.strip()
    if len(value) > 255:
        raise PydanticCustomError("max", "email must be at most 255 characters")
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise PydanticCustomError("email", "email must be a valid email address") from None
    return value


def _password(value: str) -> str:
    if not (8 <= len(value) <= 128):
        raise PydanticCustomError("min", "password must be 8 to 128 characters")
    rules = (
        (str.isupper, "an uppercase letter"),
        (str.islower, "a lowercase letter"),
        (str.isdigit, "a digit"),
        (SPECIALS.__contains__, "a special character"),
    )
    for test, what in rules:
        if not any(test(c) for c in value):
            raise PydanticCustomError("password", f"password must contain {what}")
    return value


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("required", "name must not be blank")
    if len(value) > 255:
        raise PydanticCustomError("max", "name must be at most 255 characters")
    return value


Email = Annotated[str, AfterValidator(_text), AfterValidator(_email)]
Password = Annotated[str, AfterValidator(_text), AfterValidator(_password)]
Name = Annotated[str, AfterValidator(_text), AfterValidator(_name)]
_strict = ConfigDict(extra="ignore", strict=True)


class RegisterRequest(BaseModel):
    model_config = _strict
    email: Email = Field(examples=["ada@example.com"])
    password: Password = Field(examples=["Sup3r-secret!"])
    name: Name = Field(examples=["Ada Lovelace"])


class LoginRequest(BaseModel):
    model_config = _strict
    email: Annotated[str, AfterValidator(_text)] = Field(
        min_length=1, max_length=1024, examples=["ada@example.com"]
    )
    password: Annotated[str, AfterValidator(_text)] = Field(
        min_length=1, max_length=1024, examples=["Sup3r-secret!"]
    )


class RefreshRequest(BaseModel):
    model_config = _strict
    refresh_token: str = Field(min_length=1, max_length=4096)


class LogoutRequest(BaseModel):
    model_config = _strict
    refresh_token: str | None = Field(default=None, max_length=4096)


class User(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    role: Literal["user", "admin"] = Field(
        description="admin: the operator made this user an admin (the admin routes open)"
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class AuthResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    user: User


class MeResponse(BaseModel):
    user: User


class SessionResponse(BaseModel):
    """A browser session's sign-in: the access token only (the refresh token is in a cookie)."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    user: User
