"""Typed path and query parameters, each refusing bad values with the contract's own text.

FastAPI builds the OpenAPI schema from these types (integers with bounds, enums, `format: uuid`),
while the BeforeValidator of each type parses the raw string first and raises a
PydanticCustomError carrying our text. The error handler answers 400 `{"error": <that text>}`
for a bad path or query parameter, as the contract spells them (`limit must be between 1 and
100`, `Invalid task ID format`).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from fastapi import Path, Query
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from voidrunner.common.text import is_storable_text
from voidrunner.gateway.schemas.tasks import TaskStatus

INT32_MAX = 2**31 - 1
MAX_LIMIT = 100
MAX_WAIT = 60
MAX_QUERY = 255
MAX_SCRIPT_TYPE = 64

SortField = Literal["created_at", "updated_at", "priority", "name"]
SortOrder = Literal["asc", "desc"]
SCRIPT_TYPE_EXAMPLES = ["python", "javascript", "bash", "go"]
# Plain ASCII digits only: int() would also take " 7", "1_0" and other scripts' digits.
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


def _uuid(error: str) -> Callable[[Any], uuid.UUID]:
    def parse(value: Any) -> uuid.UUID:
        if isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise PydanticCustomError("uuid", error) from None

    return parse


def _integer(lo: int, hi: int, error: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if not isinstance(value, str) or not _INTEGER.fullmatch(value):
            raise PydanticCustomError("type", error)
        number = int(value)
        if not lo <= number <= hi:
            raise PydanticCustomError("max" if number > hi else "min", error)
        return number

    return parse


def _one_of(name: str, choices: Any) -> Callable[[Any], str]:
    allowed: tuple[str, ...] = get_args(choices)
    error = f"{name} must be one of: {', '.join(allowed)}"

    def parse(value: Any) -> str:
        if value not in allowed:
            raise PydanticCustomError("oneof", error)
        return str(value)

    return parse


def _text(name: str, max_length: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value)
        # NUL and lone surrogates first: such a value is refused for what it holds, not its size.
        if not is_storable_text(text):
            raise PydanticCustomError(
                "format", f"{name} must not contain NUL or invalid characters"
            )
        if len(text) > max_length:
            raise PydanticCustomError("max", f"{name} must be at most {max_length} characters")
        return text

    return parse


TaskId = Annotated[
    uuid.UUID,
    Path(description="The task's id"),
    BeforeValidator(_uuid("Invalid task ID format")),
]
ExecutionId = Annotated[
    uuid.UUID,
    Path(description="The execution's id"),
    BeforeValidator(_uuid("Invalid execution ID format")),
]
WebhookId = Annotated[
    uuid.UUID,
    Path(description="The webhook's id"),
    BeforeValidator(_uuid("Invalid webhook ID format")),
]
DeliveryId = Annotated[
    uuid.UUID,
    Path(description="The delivery's id"),
    BeforeValidator(_uuid("Invalid delivery ID format")),
]
ApiKeyId = Annotated[
    uuid.UUID,
    Path(description="The API key's id"),
    BeforeValidator(_uuid("Invalid API key ID format")),
]

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description="Page size"),
    BeforeValidator(_integer(1, MAX_LIMIT, f"limit must be between 1 and {MAX_LIMIT}")),
]
Offset = Annotated[
    int | None,
    Query(
        ge=0,
        le=INT32_MAX,
        description="Rows to skip (offset mode, with `total`); not with `cursor`",
    ),
    BeforeValidator(_integer(0, INT32_MAX, "offset must be a non-negative integer")),
]
Cursor = Annotated[
    str | None,
    Query(description="`pagination.next_cursor` of the previous page (keyset mode)"),
]
Wait = Annotated[
    int,
    Query(ge=0, le=MAX_WAIT, description="Wait up to this many seconds for a final state"),
    BeforeValidator(_integer(0, MAX_WAIT, f"wait must be between 0 and {MAX_WAIT}")),
]
StatusFilter = Annotated[
    TaskStatus | None,
    Query(description="Only tasks in this status"),
    BeforeValidator(_one_of("status", TaskStatus)),
]
SortFieldParam = Annotated[
    SortField | None,
    Query(description="Sort key (default `created_at`); every sort pages correctly"),
    BeforeValidator(_one_of("sort_field", SortField)),
]
SortOrderParam = Annotated[
    SortOrder | None,
    Query(description="Sort direction (default `desc`)"),
    BeforeValidator(_one_of("sort_order", SortOrder)),
]
# Open: operators add runtimes, so any name is accepted here (an unknown one matches nothing).
ScriptTypeFilter = Annotated[
    str | None,
    Query(
        max_length=MAX_SCRIPT_TYPE,
        description="Only tasks of this runtime (see `GET /api/v1/runtimes`)",
        examples=SCRIPT_TYPE_EXAMPLES,
    ),
    BeforeValidator(_text("script_type", MAX_SCRIPT_TYPE)),
]
SearchText = Annotated[
    str | None,
    Query(max_length=MAX_QUERY, description="Substring of the name or description"),
    BeforeValidator(_text("q", MAX_QUERY)),
]
MetadataFilter = Annotated[
    str | None,
    Query(
        description="A JSON object the task's metadata must contain",
        examples=['{"team":"data"}'],
    ),
]


def _optional_uuid(error: str) -> Callable[[Any], uuid.UUID | None]:
    parse = _uuid(error)

    def optional(value: Any) -> uuid.UUID | None:
        return None if value is None else parse(value)

    return optional


def _timestamp(name: str) -> Callable[[Any], dt.datetime | None]:
    def parse(value: Any) -> dt.datetime | None:
        if value is None or isinstance(value, dt.datetime):
            return value
        try:
            stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise PydanticCustomError(
                "format", f"{name} must be an RFC 3339 timestamp (e.g. 2026-11-26T10:00:00Z)"
            ) from None
        if stamp.tzinfo is None:
            raise PydanticCustomError("format", f"{name} must name its time zone (Z or +hh:mm)")
        return stamp

    return parse


TaskFilter = Annotated[
    uuid.UUID | None,
    Query(description="Only executions of this task"),
    BeforeValidator(_optional_uuid("Invalid task ID format")),
]
ExecutionStatusFilter = Annotated[
    TaskStatus | None,
    Query(description="Only executions in this status"),
    BeforeValidator(_one_of("status", TaskStatus)),
]
CreatedAfter = Annotated[
    dt.datetime | None,
    Query(description="Only executions created after this time (RFC 3339)"),
    BeforeValidator(_timestamp("created_after")),
]
CreatedBefore = Annotated[
    dt.datetime | None,
    Query(description="Only executions created before this time (RFC 3339)"),
    BeforeValidator(_timestamp("created_before")),
]
IdsFilter = Annotated[
    str | None,
    Query(
        description="Comma-separated execution ids (at most 100); ids you cannot see are left out"
    ),
]


# Sharing (issue 18).
SharedWith = Literal["with_me"]
SharedFilter = Annotated[
    SharedWith | None,
    Query(description="`with_me`: the tasks others shared with the caller, instead of their own"),
    BeforeValidator(_one_of("shared", SharedWith)),
]


def _share_email(value: Any) -> str:
    text = _text("email", MAX_QUERY)(value).strip()
    if "@" not in text or len(text) < 3:
        raise PydanticCustomError("email", "email must be a valid email address")
    return text


ShareEmail = Annotated[
    str,
    Query(description="The email the task is shared with", examples=["grace@example.com"]),
    BeforeValidator(_share_email),
]
