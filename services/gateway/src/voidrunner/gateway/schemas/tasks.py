"""Bodies of /api/v1/tasks.

The static rules of the contract are checked here, so bad input is a 400 naming the JSON field
before any backend call; operator caps (memory, cpu, output) and the configured runtimes are
checked by the tasks service, whose field errors come back in the same validation_errors shape.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from voidrunner.common.text import is_storable_text as is_text
from voidrunner.contracts.shares import ShareRole
from voidrunner.gateway.schemas.inputs import (
    Args,
    Base64,
    FileOut,
    Files,
    TestCaseOut,
    TestCases,
)

NAME_FORBIDDEN = frozenset("<>\"'&;|`$(){}[]\\/:*?\n\r\t")
MAX_METADATA_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
MAX_STDIN_BYTES = 1_048_576
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INT32_MAX = 2**31 - 1
# Far above any operator cap, low enough that no number overflows on its way to the service.
MAX_OUTPUT_SANE = 2**40
MAX_CPU_SANE = 1024.0
TaskStatus = Literal["pending", "running", "completed", "failed", "timeout", "cancelled"]


def _text(value: str, info: ValidationInfo) -> str:
    if not is_text(value):
        raise PydanticCustomError(
            "format",
            "{field} must not contain NUL or invalid characters",
            {"field": info.field_name},
        )
    return value


def _not_blank(value: str, info: ValidationInfo) -> str:
    if not value.strip():
        raise PydanticCustomError(
            "required", "{field} must not be blank", {"field": info.field_name}
        )
    return value


def _name(value: str) -> str:
    bad = sorted(set(value) & NAME_FORBIDDEN)
    if bad:
        shown = " ".join(repr(b)[1:-1] for b in bad)
        raise PydanticCustomError("format", "name must not contain: {shown}", {"shown": shown})
    return value


def json_problem(value: Any) -> str:
    """Why a JSON value cannot be stored ('' when it can): depth, NUL, surrogates, NaN."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"must not be nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(item, str) and not is_text(item):
            return "must not contain NUL or invalid characters"
        if isinstance(item, float) and not math.isfinite(item):
            return "must not contain NaN or Infinity"
        if isinstance(item, dict):
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return ""


def _metadata(value: dict[str, Any]) -> dict[str, Any]:
    problem = json_problem(value)
    if problem:
        raise PydanticCustomError("format", "metadata {problem}", {"problem": problem})
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise PydanticCustomError("max", "metadata must be at most 65536 bytes as JSON")
    return value


def _stdin(value: str) -> str:
    # stdin is stored as bytes, so NUL is fine; lone surrogates are not text at all.
    if not is_text(value.replace("\x00", "")):
        raise PydanticCustomError("format", "stdin must be valid text")
    if len(value.encode()) > MAX_STDIN_BYTES:
        raise PydanticCustomError("max", "stdin must be at most 1048576 bytes")
    return value


def _env_count(value: dict[str, str]) -> dict[str, str]:
    if len(value) > 64:
        raise PydanticCustomError("max", "env must have at most 64 entries")
    return value


def _env_name(key: str) -> str:
    # A key validator: every bad name is its own error (field env.<name>).
    if not ENV_NAME.match(key):
        raise PydanticCustomError(
            "format",
            "env name {key} must match [A-Za-z_][A-Za-z0-9_]*",
            {"key": repr(key[:64]) if is_text(key) else "?"},
        )
    return key


def _env_value(item: str) -> str:
    if not is_text(item):
        raise PydanticCustomError("format", "env values must not contain NUL or invalid characters")
    return item


Text = Annotated[str, AfterValidator(_text)]
Name = Annotated[
    str,
    Field(min_length=1, max_length=255, examples=["nightly-report"]),
    AfterValidator(_text),
    AfterValidator(_not_blank),
    AfterValidator(_name),
]
Description = Annotated[str, Field(max_length=1000), AfterValidator(_text)]
Script = Annotated[
    str,
    Field(min_length=1, max_length=65_535, examples=["print('hello')"]),
    AfterValidator(_text),
    AfterValidator(_not_blank),
]
ScriptType = Annotated[
    str, Field(min_length=1, max_length=64, examples=["python"]), AfterValidator(_text)
]
Priority = Annotated[int, Field(ge=0, le=10)]
Timeout = Annotated[int, Field(ge=1, le=3600)]
Metadata = Annotated[dict[str, Any], AfterValidator(_metadata)]
Stdin = Annotated[str, AfterValidator(_stdin)]
Env = Annotated[
    dict[Annotated[str, AfterValidator(_env_name)], Annotated[str, AfterValidator(_env_value)]],
    AfterValidator(_env_count),
]
MemoryMb = Annotated[int, Field(ge=16, le=INT32_MAX)]
Cpu = Annotated[float, Field(ge=0.1, le=MAX_CPU_SANE, allow_inf_nan=False)]
OutputBytes = Annotated[int, Field(ge=1024, le=MAX_OUTPUT_SANE)]

_strict = ConfigDict(extra="ignore", strict=True)


Version = Annotated[
    str, Field(min_length=1, max_length=64, examples=["3.11"]), AfterValidator(_text)
]
Entrypoint = Annotated[str, Field(min_length=1, max_length=255, examples=["main.py"])]
# Vetted by the tasks service (https, a public address, DNS included) when saved.
CallbackUrl = Annotated[
    str,
    Field(min_length=1, max_length=2048, examples=["https://example.com/hooks/voidrunner"]),
    AfterValidator(_text),
]


class RunFields(BaseModel):
    """What a run is: a task's fields, or a one-shot run's (`POST /api/v1/runs`).

    The program is `script_content` (one file) or `files` with an `entrypoint` (default: the
    first file); `args` follow the program; `stdin` or `stdin_base64` feeds it; `test_cases`
    run it once per case (compiled once) and compare its stdout.
    """

    model_config = _strict
    # Runtime and cap violations are reported with schema errors (errors._policy_items).
    policy_checked: ClassVar[bool] = True
    script_content: Script | None = None
    script_type: ScriptType
    version: Version | None = None
    files: Files | None = None
    entrypoint: Entrypoint | None = None
    args: Args | None = None
    priority: Priority = 5
    timeout_seconds: Timeout = 300
    stdin: Stdin | None = None
    stdin_base64: Base64 | None = None
    env: Env = Field(default_factory=dict)
    memory_limit_mb: MemoryMb | None = None
    cpu_limit: Cpu | None = None
    max_output_bytes: OutputBytes | None = None
    test_cases: TestCases | None = None
    stop_on_first_failure: bool | None = None
    callback_url: CallbackUrl | None = Field(
        default=None,
        description="Every webhook event of the run (a task's: of each of its executions) "
        "also goes here, signed with the owner's secret.",
    )

    @classmethod
    def body_violations(cls, body: dict[str, Any], failed: set[str]) -> list[dict[str, str]]:
        """Rules across fields that a body breaking other rules also hears about."""
        program = body.get("script_content") is not None or body.get("files") is not None
        if program or failed & {"script_content", "files"}:
            return []
        return [
            {
                "field": "script_content",
                "value": "",
                "tag": "required",
                "message": "script_content is required (or files)",
            }
        ]

    @model_validator(mode="after")
    def _one_stdin(self) -> RunFields:
        if self.stdin is not None and self.stdin_base64 is not None:
            raise PydanticCustomError("excluded", "give stdin or stdin_base64, not both")
        return self


class TaskCreate(RunFields):
    name: Name
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)


_NOT_NULL = (
    "name",
    "script_content",
    "script_type",
    "version",
    "files",
    "entrypoint",
    "args",
    "test_cases",
    "stop_on_first_failure",
    "priority",
    "timeout_seconds",
    "metadata",
    "env",
    "memory_limit_mb",
    "cpu_limit",
    "max_output_bytes",
)


class TaskUpdate(BaseModel):
    """Every field optional; `null` clears description and stdin and is refused elsewhere."""

    model_config = _strict
    policy_checked: ClassVar[bool] = True
    name: Name | None = None
    description: Description | None = None
    script_content: Script | None = None
    script_type: ScriptType | None = None
    priority: Priority | None = None
    timeout_seconds: Timeout | None = None
    metadata: Metadata | None = None
    stdin: Stdin | None = None
    stdin_base64: Base64 | None = None
    env: Env | None = None
    memory_limit_mb: MemoryMb | None = None
    cpu_limit: Cpu | None = None
    max_output_bytes: OutputBytes | None = None
    version: Version | None = None
    files: Files | None = None
    entrypoint: Entrypoint | None = None
    args: Args | None = None
    test_cases: TestCases | None = None
    stop_on_first_failure: bool | None = None
    # null removes it.
    callback_url: CallbackUrl | None = None

    @field_validator(*_NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for fields present in the body: absent means "keep", null is an error.
        if value is None:
            raise PydanticCustomError(
                "required", "{field} must not be null", {"field": info.field_name}
            )
        return value


class Task(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    description: str | None = None
    script_content: str | None = None
    script_type: str
    version: str | None = None
    files: list[FileOut] | None = None
    entrypoint: str | None = None
    args: list[str] | None = None
    stdin_base64: str | None = None
    test_cases: list[TestCaseOut] | None = None
    stop_on_first_failure: bool | None = None
    status: TaskStatus
    priority: int
    timeout_seconds: int
    metadata: dict[str, Any]
    stdin: str | None = None
    env: dict[str, str] | None = Field(
        default=None, description="Omitted when the task is shared with the caller (not theirs)"
    )
    memory_limit_mb: int
    cpu_limit: float
    max_output_bytes: int
    callback_url: str | None = None
    webhook_secret: str | None = Field(
        default=None,
        description="The owner's new signing secret: only in the answer to the save whose "
        "callback_url created it (shown once).",
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    shared_role: ShareRole | None = Field(
        default=None,
        description="Set when the task is another user's, shared with the caller in this role",
    )


class Pagination(BaseModel):
    has_more: bool
    next_cursor: str | None = None


class TaskList(BaseModel):
    """`total` and `offset` only in offset mode; `next_cursor` whenever there is more."""

    tasks: list[Task]
    total: int | None = None
    limit: int
    offset: int | None = None
    pagination: Pagination
