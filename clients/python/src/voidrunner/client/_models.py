"""Typed bodies of the public REST API, as the gateway sends and takes them.

Response models ignore fields they do not know, so a newer gateway does not break an older
client; `tests/test_schema.py` checks every field here against a live gateway's OpenAPI document
so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import base64 as _b64
import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The public API's vocabularies (the gateway's libs/contracts defines them; tests/test_schema.py
# checks these copies against that document, since this package installs without the services).
Status = Literal["pending", "running", "completed", "failed", "timeout", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "timeout", "cancelled"})
TerminationReason = Literal[
    "exit",
    "timeout",
    "memory_limit",
    "output_limit",
    "pids_limit",
    "security_violation",
    "cancelled",
    "compile_error",
    "sandbox_error",
]
Verdict = Literal[
    "accepted",
    "wrong_answer",
    "time_limit_exceeded",
    "memory_limit_exceeded",
    "output_limit_exceeded",
    "runtime_error",
    "compile_error",
    "internal_error",
]
Compare = Literal["exact", "trim_trailing_whitespace", "ignore_whitespace"]
Scope = Literal["read", "run", "manage", "admin"]
Encoding = Literal["utf8", "base64"]
ShareRole = Literal["viewer", "runner"]
EventType = Literal[
    "execution.started",
    "execution.completed",
    "execution.failed",
    "execution.timeout",
    "execution.cancelled",
]
DeliveryState = Literal["pending", "delivered", "failed"]


class Model(BaseModel):
    """A response body: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")


class Body(BaseModel):
    """A request body: a typo in a field name is an error here, not a silently dropped field."""

    model_config = ConfigDict(extra="forbid")


class User(Model):
    id: uuid.UUID
    email: str
    name: str
    role: Literal["user", "admin"]
    created_at: dt.datetime
    updated_at: dt.datetime


class AuthResponse(Model):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    user: User


class MeResponse(Model):
    user: User


class MessageBody(Model):
    message: str


class Pagination(Model):
    has_more: bool
    next_cursor: str | None = None


class File(Body):
    """A file of the work dir: `content` as text, or base64 with `encoding="base64"`."""

    path: str
    content: str
    encoding: Encoding = "utf8"


class FileOut(Model):
    path: str
    content: str
    encoding: Encoding


class TestCase(Body):
    """A test case: the program runs once per case and its stdout is compared."""

    name: str
    stdin: str | None = None
    stdin_base64: str | None = None
    args: list[str] | None = None
    expected_stdout: str | None = None
    expected_stdout_base64: str | None = None
    compare: Compare | None = None
    hidden: bool | None = None


class TestCaseOut(Model):
    name: str
    stdin: str | None = None
    stdin_base64: str | None = None
    args: list[str] | None = None
    expected_stdout: str | None = None
    expected_stdout_base64: str | None = None
    # None for a hidden case of a task shared with the caller (they see its name alone).
    compare: Compare | None = None
    hidden: bool


class RunSpec(Body):
    """What a run is: the program (`script_content`, or `files` with an `entrypoint`), its
    inputs, limits and test cases. The body of `POST /api/v1/runs`."""

    script_type: str
    script_content: str | None = None
    version: str | None = None
    files: list[File] | None = None
    entrypoint: str | None = None
    args: list[str] | None = None
    priority: int | None = None
    timeout_seconds: int | None = None
    stdin: str | None = None
    stdin_base64: str | None = None
    env: dict[str, str] | None = None
    memory_limit_mb: int | None = None
    cpu_limit: float | None = None
    max_output_bytes: int | None = None
    test_cases: list[TestCase] | None = None
    stop_on_first_failure: bool | None = None
    # Every webhook event of the run (a task's: of each execution) also goes here, signed
    # with the owner's secret; the answer that creates that secret carries `webhook_secret`.
    callback_url: str | None = None


class TaskSpec(RunSpec):
    """A task to create: a run with a name."""

    name: str
    description: str | None = None
    metadata: dict[str, Any] | None = None


class TaskUpdate(Body):
    """Fields to change; the fields not set are kept (`description=None` or
    `callback_url=None` set clears it)."""

    name: str | None = None
    description: str | None = None
    script_content: str | None = None
    script_type: str | None = None
    version: str | None = None
    files: list[File] | None = None
    entrypoint: str | None = None
    args: list[str] | None = None
    priority: int | None = None
    timeout_seconds: int | None = None
    metadata: dict[str, Any] | None = None
    stdin: str | None = None
    stdin_base64: str | None = None
    env: dict[str, str] | None = None
    memory_limit_mb: int | None = None
    cpu_limit: float | None = None
    max_output_bytes: int | None = None
    test_cases: list[TestCase] | None = None
    stop_on_first_failure: bool | None = None
    callback_url: str | None = None


class Task(Model):
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
    stdin: str | None = None
    stdin_base64: str | None = None
    test_cases: list[TestCaseOut] | None = None
    stop_on_first_failure: bool | None = None
    status: Status
    priority: int
    timeout_seconds: int
    metadata: dict[str, Any]
    # None when the task is another user's, shared with the caller (`shared_role`).
    env: dict[str, str] | None = None
    memory_limit_mb: int
    cpu_limit: float
    max_output_bytes: int
    # Neither is sent to a user the task is shared with; `webhook_secret` only in the answer
    # to the save whose callback_url created the owner's signing secret (shown once).
    callback_url: str | None = None
    webhook_secret: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    shared_role: ShareRole | None = None


class TaskList(Model):
    tasks: list[Task]
    total: int | None = None
    limit: int
    offset: int | None = None
    pagination: Pagination


class ExecutionLimits(Model):
    timeout_seconds: int
    memory_limit_mb: int
    cpu_limit: float
    max_output_bytes: int


class RunTestCase(Model):
    """A test case a one-shot run was judged against (a hidden one: its name alone)."""

    name: str
    hidden: bool
    stdin: str | None = None
    stdin_base64: str | None = None
    args: list[str] | None = None
    expected_stdout: str | None = None
    expected_stdout_base64: str | None = None
    compare: Compare | None = None


class RunView(Model):
    """What a one-shot run ran."""

    script_content: str | None = None
    files: list[FileOut] | None = None
    entrypoint: str | None = None
    args: list[str] | None = None
    stdin: str | None = None
    stdin_base64: str | None = None
    test_cases: list[RunTestCase] | None = None
    stop_on_first_failure: bool | None = None


class CaseView(Model):
    """How one test case went (a hidden case: its verdict and figures only)."""

    index: int
    name: str
    hidden: bool
    verdict: Verdict
    execution_time_ms: int
    cpu_time_ms: int
    memory_usage_bytes: int
    termination_reason: TerminationReason | None = None
    return_code: int | None = None
    exit_signal: str | None = None
    stdout: str | None = None
    stdout_base64: str | None = None
    stderr: str | None = None
    stderr_base64: str | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None


class Execution(Model):
    """A run of a task, or a one-shot run (`task_id` None). The `*_base64` fields carry the exact
    bytes whenever the text beside them is not exactly what the program wrote."""

    id: uuid.UUID
    task_id: uuid.UUID | None = None
    status: Status
    script_type: str | None = None
    version: str | None = None
    limits: ExecutionLimits | None = None
    run: RunView | None = None
    verdict: Verdict | None = None
    passed: int | None = None
    total: int | None = None
    cases: list[CaseView] | None = None
    return_code: int | None = None
    exit_signal: str | None = None
    stdout: str | None = None
    stdout_base64: str | None = None
    stderr: str | None = None
    stderr_base64: str | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    termination_reason: TerminationReason | None = None
    termination_detail: str | None = None
    execution_time_ms: int | None = None
    cpu_time_ms: int | None = None
    memory_usage_bytes: int | None = None
    compile_output: str | None = None
    compile_output_base64: str | None = None
    compile_time_ms: int | None = None
    attempt: int = 1
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    created_at: dt.datetime
    # Who started it (the task's owner, or a user it is shared with as a runner).
    started_by: uuid.UUID | None = None
    # Only in the answer to a one-shot run whose callback_url created the signing secret.
    webhook_secret: str | None = None

    @property
    def final(self) -> bool:
        """True once the status can no longer change."""
        return self.status in FINAL_STATUSES


class ExecutionList(Model):
    executions: list[Execution]
    total: int | None = None
    limit: int
    offset: int | None = None
    pagination: Pagination


class RunBatchResult(Model):
    executions: list[Execution]
    webhook_secret: str | None = None


class RuntimeLimits(Model):
    timeout_seconds: int
    memory_limit_mb: int
    cpu_limit: float
    max_output_bytes: int


class Runtime(Model):
    name: str
    language: str
    version: str
    available: bool
    executors: int
    aliases: list[str] = []
    reason: str | None = None
    default_limits: RuntimeLimits
    max_limits: RuntimeLimits


class RuntimeList(Model):
    runtimes: list[Runtime]


class ApiKey(Model):
    """An API key as lists show it: its prefix, never the key."""

    id: uuid.UUID
    name: str
    scopes: list[Scope]
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None


class CreatedApiKey(ApiKey):
    """A new key: `key` is shown this once."""

    key: str


class ApiKeyList(Model):
    api_keys: list[ApiKey]
    pagination: Pagination


class ApiKeyCreate(Body):
    name: str
    scopes: list[Scope]
    expires_at: dt.datetime | None = None


class Share(Model):
    """Who a task is shared with (`email`, lower-cased) and as what."""

    email: str
    role: ShareRole
    created_at: dt.datetime
    updated_at: dt.datetime


class ShareList(Model):
    shares: list[Share]


class ShareCreate(Body):
    email: str
    role: ShareRole


class Webhook(Model):
    """An endpoint deliveries are POSTed to (`events`: every one when none were chosen)."""

    id: uuid.UUID
    url: str
    events: list[EventType]
    enabled: bool
    # Why it stopped by itself: "gone" (the receiver answered 410) or "failing".
    disabled_reason: Literal["gone", "failing"] | None = None
    description: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime


class CreatedWebhook(Webhook):
    """A new endpoint: `secret` (whsec_...) only when this call created the signing secret,
    shown this once."""

    secret: str | None = None


class WebhookList(Model):
    webhooks: list[Webhook]
    pagination: Pagination


class WebhookCreate(Body):
    url: str
    events: list[EventType] = Field(default_factory=list)
    enabled: bool = True
    description: str = ""


class WebhookUpdate(Body):
    """Fields to change; the fields not set are kept. `enabled=True` clears a failure record."""

    url: str | None = None
    events: list[EventType] | None = None
    enabled: bool | None = None
    description: str | None = None


class Attempt(Model):
    """One try of a delivery: `status_code` None when no answer came."""

    attempt: int
    attempted_at: dt.datetime
    status_code: int | None = None
    latency_ms: int
    error: str | None = None


class Delivery(Model):
    """One event owed to one endpoint; `message_id` is its `webhook-id` on every attempt."""

    id: uuid.UUID
    message_id: str
    webhook_id: uuid.UUID
    event_type: EventType
    execution_id: uuid.UUID
    state: DeliveryState
    attempts: int
    next_attempt_at: dt.datetime | None = None
    created_at: dt.datetime
    attempt_log: list[Attempt] = Field(default_factory=list)


class DeliveryList(Model):
    deliveries: list[Delivery]
    pagination: Pagination


class SigningSecret(Model):
    """A rotated secret, shown once; the previous one signs beside it until
    `previous_valid_until`."""

    secret: str
    previous_valid_until: dt.datetime | None = None
    created_at: dt.datetime


class SecretInfo(Model):
    """Whether the caller has a signing secret (never the secret itself)."""

    exists: bool
    created_at: dt.datetime | None = None
    previous_valid_until: dt.datetime | None = None


class WebhookEventData(Model):
    """What a delivery says about the execution (never its output: fetch it for that)."""

    execution_id: uuid.UUID
    task_id: uuid.UUID | None = None
    status: Status
    termination_reason: TerminationReason | None = None
    return_code: int | None = None
    verdict: Verdict | None = None
    passed: int | None = None
    total: int | None = None
    script_type: str | None = None
    execution_time_ms: int | None = None
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None


class WebhookEvent(Model):
    """A verified delivery's body. `type` is a plain string so that an event type newer than
    this client is still read, not refused."""

    type: str
    timestamp: dt.datetime
    data: WebhookEventData


class LogEvent(Model):
    """One event of an execution's log stream.

    `event` is `stdout` or `stderr` (a chunk: `text`, and `base64` when the text is not the
    exact bytes), `case_start` / `case_end` (a test case's), or `end` (the last: `status`,
    `return_code` or `exit_signal`, `termination_reason`). `id` is "<attempt>:<seq>".
    """

    event: str
    id: str = ""
    stream: str | None = None
    seq: int | None = None
    attempt: int | None = None
    text: str | None = None
    base64: str | None = None
    case: int | None = None
    name: str | None = None
    status: Status | None = None
    return_code: int | None = None
    exit_signal: str | None = None
    termination_reason: TerminationReason | None = None
    verdict: Verdict | None = None
    passed: int | None = None
    total: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def data(self) -> bytes:
        """A chunk's exact bytes."""
        if self.base64 is not None:
            return _b64.b64decode(self.base64)
        return (self.text or "").encode()
