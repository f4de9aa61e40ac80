"""VoidRunner's Python SDK: `Client` (sync) and `AsyncClient` over the public REST API.

from voidrunner.client import Client, RunSpec

with Client("http://localhost:8080", api_key="vr_...") as vr:
    execution = vr.runs.create(RunSpec(script_type="python", script_content="print(1)"))
    for event in vr.executions.logs(execution.id):
        print(event.event, event.text)

A webhook receiver checks each delivery with `verify_webhook(body, headers, secret)`.
"""

from voidrunner.client._async_client import AsyncClient
from voidrunner.client._client import Client
from voidrunner.client._credentials import Credentials, CredentialsFile
from voidrunner.client._errors import (
    ApiError,
    BadRequest,
    ConfigError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationError,
    VoidRunnerError,
    WebhookVerificationFailed,
)
from voidrunner.client._models import (
    FINAL_STATUSES,
    ApiKey,
    Attempt,
    AuthResponse,
    CaseView,
    CreatedApiKey,
    CreatedWebhook,
    Delivery,
    Execution,
    ExecutionLimits,
    File,
    FileOut,
    LogEvent,
    MessageBody,
    RunSpec,
    RunTestCase,
    Runtime,
    RuntimeLimits,
    RunView,
    SecretInfo,
    Share,
    SigningSecret,
    Task,
    TaskSpec,
    TaskUpdate,
    TestCase,
    TestCaseOut,
    User,
    Webhook,
    WebhookEvent,
    WebhookEventData,
    WebhookUpdate,
)
from voidrunner.client._webhooks import verify_webhook

__all__ = [
    "FINAL_STATUSES",
    "ApiError",
    "ApiKey",
    "AsyncClient",
    "Attempt",
    "AuthResponse",
    "BadRequest",
    "CaseView",
    "Client",
    "ConfigError",
    "Conflict",
    "ConnectionFailed",
    "CreatedApiKey",
    "CreatedWebhook",
    "Credentials",
    "CredentialsFile",
    "Delivery",
    "Execution",
    "ExecutionLimits",
    "File",
    "FileOut",
    "Forbidden",
    "LogEvent",
    "MessageBody",
    "NotFound",
    "RateLimited",
    "RunSpec",
    "RunTestCase",
    "RunView",
    "Runtime",
    "RuntimeLimits",
    "SecretInfo",
    "ServerError",
    "Share",
    "SigningSecret",
    "Task",
    "TaskSpec",
    "TaskUpdate",
    "TestCase",
    "TestCaseOut",
    "Unauthorized",
    "User",
    "ValidationError",
    "VoidRunnerError",
    "Webhook",
    "WebhookEvent",
    "WebhookEventData",
    "WebhookUpdate",
    "WebhookVerificationFailed",
    "verify_webhook",
]
