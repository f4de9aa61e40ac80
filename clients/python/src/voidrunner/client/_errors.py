"""The SDK's exceptions.

VoidRunnerError
├── ConfigError              no credentials, an unsafe credentials file, a bad URL
├── ConnectionFailed         the gateway could not be reached (or dropped a stream for good)
├── WebhookVerificationFailed  an incoming delivery's signature or timestamp did not check out
└── ApiError                 the gateway answered with an error body
    ├── BadRequest           400 (validation_errors names the fields)
    ├── Unauthorized         401: a missing, wrong, expired or revoked token or key
    ├── Forbidden            403: e.g. an API key's scope does not cover the call
    ├── NotFound             404 (another user's resource too)
    ├── Conflict             409
    ├── RateLimited          429 (after the retries; retry_after says how long to wait)
    └── ServerError          5xx
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel


class ValidationError(BaseModel):
    """One failed field rule of a 400 Validation failed."""

    field: str
    value: str = ""
    tag: str = ""
    message: str = ""


class VoidRunnerError(Exception):
    """Everything this package raises."""


class ConfigError(VoidRunnerError):
    """The client cannot be set up: no credentials, an unsafe file, a bad setting."""


class ConnectionFailed(VoidRunnerError):
    """The gateway could not be reached, or a stream broke and could not be resumed."""


class WebhookVerificationFailed(VoidRunnerError):
    """An incoming webhook delivery is not one the secret signed (or is too old or new)."""


class ApiError(VoidRunnerError):
    """The gateway's error body, with the status and the response it came in."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status = response.status_code
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"error": response.text.strip()[:200] or response.reason_phrase}
        self.body: dict[str, Any] = body
        self.error = str(body.get("error", ""))
        details = body.get("details")
        self.details = None if details is None else str(details)
        items = body.get("validation_errors") or []
        self.validation_errors = [
            ValidationError.model_validate(i) for i in items if isinstance(i, dict)
        ]
        retry = body.get("retry_after", response.headers.get("Retry-After"))
        self.retry_after = _seconds(retry)
        super().__init__(self.message())

    def message(self) -> str:
        """One line: the error, its details, and the fields that failed."""
        text = self.error or f"HTTP {self.status}"
        if self.details:
            text += f": {self.details}"
        if self.validation_errors:
            text += ": " + "; ".join(v.message or v.field for v in self.validation_errors)
        return text


class BadRequest(ApiError):
    """400."""


class Unauthorized(ApiError):
    """401."""


class Forbidden(ApiError):
    """403."""


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409."""


class RateLimited(ApiError):
    """429."""


class ServerError(ApiError):
    """5xx."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def _seconds(value: object) -> float | None:
    try:
        return max(0.0, float(str(value)))
    except (TypeError, ValueError):
        return None


def error_for(response: httpx.Response) -> ApiError:
    """The exception an error response means."""
    kind = _BY_STATUS.get(response.status_code)
    if kind is None:
        kind = ServerError if response.status_code >= 500 else ApiError
    return kind(response)
