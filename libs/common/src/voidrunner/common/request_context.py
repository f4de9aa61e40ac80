"""The request id that follows one request across the gateway and every service it calls."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "x-request-id"
_request_id: ContextVar[str] = ContextVar("request_id", default="")
# Accept a caller's id only when it is short and harmless to log and echo.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def current_request_id() -> str:
    """The request id bound to the current task, or an empty string."""
    return _request_id.get()


def set_request_id(value: str) -> None:
    """Bind `value` as the current request id (for this task and the ones it starts)."""
    _request_id.set(value)


def accept_or_new(candidate: str | None) -> str:
    """The caller's id when it is safe to echo, otherwise a fresh UUID."""
    if candidate and _SAFE_ID.match(candidate):
        return candidate
    return str(uuid.uuid4())
