"""Request and response bodies of /api/v1/webhooks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from voidrunner.contracts.webhooks import EventType
from voidrunner.gateway.schemas.tasks import Pagination, _text

Url = Annotated[
    str,
    Field(min_length=1, max_length=2048, examples=["https://example.com/hooks/voidrunner"]),
    AfterValidator(_text),
]
Description = Annotated[str, Field(max_length=500), AfterValidator(_text)]
Events = Annotated[
    list[Annotated[EventType, Field(strict=False)]],
    Field(
        max_length=len(EventType),
        description="Event types to deliver; omitted or empty: every one.",
        examples=[["execution.completed", "execution.failed"]],
    ),
]

_strict = ConfigDict(extra="ignore", strict=True)


class WebhookCreate(BaseModel):
    """A new endpoint: https on a public address (checked now and at every attempt)."""

    model_config = _strict
    url: Url
    events: Events = Field(default_factory=list)
    enabled: bool = True
    description: Description = ""


class WebhookUpdate(BaseModel):
    """The fields to change; enabling a disabled endpoint clears its failure record."""

    model_config = _strict
    url: Url | None = None
    events: Events | None = None
    enabled: bool | None = None
    description: Description | None = None


class Webhook(BaseModel):
    id: uuid.UUID
    url: str
    events: list[EventType]
    enabled: bool
    disabled_reason: Literal["gone", "failing"] | None = Field(
        default=None,
        description="Why delivery stopped by itself: `gone` (the receiver answered 410) or "
        "`failing` (every attempt failed for days).",
    )
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime


class CreatedWebhook(Webhook):
    secret: str | None = Field(
        default=None,
        description="The caller's signing secret (`whsec_…`), only when this call created it: "
        "shown once. Rotate it at POST /api/v1/webhooks/secret/rotate.",
    )


class WebhookList(BaseModel):
    webhooks: list[Webhook]
    pagination: Pagination


class Attempt(BaseModel):
    attempt: int
    attempted_at: dt.datetime
    status_code: int | None = Field(default=None, description="None when no answer came")
    latency_ms: int
    error: str | None = None


class Delivery(BaseModel):
    id: uuid.UUID
    message_id: str = Field(description="The `webhook-id` header: the same on every attempt")
    webhook_id: uuid.UUID
    event_type: EventType
    execution_id: uuid.UUID
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: dt.datetime | None = None
    created_at: dt.datetime
    attempt_log: list[Attempt]


class DeliveryList(BaseModel):
    deliveries: list[Delivery]
    pagination: Pagination


class SigningSecret(BaseModel):
    secret: str = Field(description="The new secret (`whsec_…`): shown once")
    previous_valid_until: dt.datetime | None = Field(
        default=None,
        description="Until then the previous secret signs too (a second `v1,` signature).",
    )
    created_at: dt.datetime


class SecretInfo(BaseModel):
    exists: bool
    created_at: dt.datetime | None = None
    previous_valid_until: dt.datetime | None = None
