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
