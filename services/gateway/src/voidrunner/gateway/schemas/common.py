"""Bodies shared by every resource: errors and plain messages."""

from __future__ import annotations

from pydantic import BaseModel


class ValidationErrorItem(BaseModel):
    field: str
    value: str
    tag: str
    message: str


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: str
    details: str | None = None
    validation_errors: list[ValidationErrorItem] | None = None
    retry_after: int | None = None


class MessageBody(BaseModel):
    message: str


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "Invalid request"},
    401: {"model": ErrorBody, "description": "Missing or invalid credentials"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    429: {"model": ErrorBody, "description": "Rate limit exceeded"},
    500: {"model": ErrorBody, "description": "Internal server error"},
    503: {"model": ErrorBody, "description": "A backend service is unavailable"},
}


def _header(description: str, kind: str = "string", **schema: object) -> dict[str, object]:
    return {"description": description, "schema": {"type": kind, **schema}}


# Response headers, as the OpenAPI document describes them (see openapi.py for where they go).
REQUEST_ID_HEADER = _header(
    "The caller's X-Request-ID, or a new UUID", examples=["3b2f0c9e-4d1a-4e8b-9c7f-5a6b7c8d9e0f"]
)
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": _header("Requests allowed in the current window", "integer", minimum=1),
    "RateLimit-Remaining": _header("Requests left in the current window", "integer", minimum=0),
    "RateLimit-Reset": _header("Seconds until the window resets", "integer", minimum=1),
}
RETRY_AFTER_HEADER = _header("Seconds to wait before retrying", "integer", minimum=0)
LOCATION_HEADER = _header("The path of the created resource", examples=["/api/v1/tasks/{id}"])
REPLAYED_HEADER = _header(
    "`true`: this is the execution an earlier start with the same Idempotency-Key created",
    enum=["true"],
)
NO_STORE_HEADER = _header("Tokens must not be cached", enum=["no-store"])
WWW_AUTHENTICATE_HEADER = _header("The scheme to authenticate with", examples=["Bearer"])
