"""/api/v1/webhooks — endpoints, their delivery logs and the caller's signing secret.

Forwarded to the tasks service's WebhooksService. Deliveries follow Standard Webhooks: each POST
carries `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
`id.timestamp.body` under the caller's secret).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response
from google.protobuf.timestamp_pb2 import Timestamp

from voidrunner.contracts.webhooks import EventType
from voidrunner.gateway.deps import CurrentUser, Deps, no_store
from voidrunner.gateway.params import Cursor, DeliveryId, Limit, WebhookId
from voidrunner.gateway.ratelimit import per_user
from voidrunner.gateway.routes.tasks import call, caller
from voidrunner.gateway.schemas.common import ERROR_RESPONSES, ErrorBody
from voidrunner.gateway.schemas.tasks import Pagination
from voidrunner.gateway.schemas.webhooks import (
    Attempt,
    CreatedWebhook,
    Delivery,
    DeliveryList,
    SecretInfo,
    SigningSecret,
    Webhook,
    WebhookCreate,
    WebhookList,
    WebhookUpdate,
)
from voidrunner.proto.webhooks.v1 import webhooks_pb2

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)
_LIMIT = per_user("webhooks")
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Webhook (or delivery) not found"}
}


def _time(stamp: Timestamp) -> dt.datetime:
    value: dt.datetime = stamp.ToDatetime(tzinfo=dt.UTC)
    return value


def _maybe(msg: Any, name: str) -> dt.datetime | None:
    return _time(getattr(msg, name)) if msg.HasField(name) else None


def _fields(w: webhooks_pb2.Webhook) -> dict[str, Any]:
    return {
        "id": uuid.UUID(w.id),
        "url": w.url,
        "events": [EventType(e) for e in w.events],
        "enabled": w.enabled,
        "disabled_reason": w.disabled_reason or None,
        "description": w.description,
        "created_at": _time(w.created_at),
        "updated_at": _time(w.updated_at),
    }


def _delivery(d: webhooks_pb2.Delivery) -> Delivery:
    return Delivery(
        id=uuid.UUID(d.id),
        message_id=d.message_id,
        webhook_id=uuid.UUID(d.webhook_id),
        event_type=EventType(d.event_type),
        execution_id=uuid.UUID(d.execution_id),
        state=d.state,
        attempts=d.attempts,
        next_attempt_at=_maybe(d, "next_attempt_at"),
        created_at=_time(d.created_at),
        attempt_log=[
            Attempt(
                attempt=a.attempt,
                attempted_at=_time(a.attempted_at),
                status_code=a.status_code if a.HasField("status_code") else None,
                latency_ms=a.latency_ms,
                error=a.error or None,
            )
            for a in d.attempt_log
        ],
    )


def _page(next_cursor: str) -> Pagination:
    return Pagination(has_more=bool(next_cursor), next_cursor=next_cursor or None)


@router.post(
    "",
    status_code=201,
    response_model=CreatedWebhook,
    response_model_exclude_none=True,
    dependencies=[_LIMIT, Depends(no_store)],
)
async def create_webhook(
    body: WebhookCreate, principal: CurrentUser, deps: Deps, response: Response
) -> CreatedWebhook:
    """Register an endpoint. The first webhook (or callback_url) creates the caller's signing
    secret, returned in `secret` this once."""
    request = webhooks_pb2.CreateWebhookRequest(
        caller=caller(principal),
        url=body.url,
        events=[e.value for e in body.events],
        enabled=body.enabled,
        description=body.description,
    )
    created = await call(deps.webhooks.CreateWebhook, request, deps)
    response.headers["Location"] = f"{router.prefix}/{created.webhook.id}"
    return CreatedWebhook(**_fields(created.webhook), secret=created.secret or None)


@router.get("", response_model=WebhookList, response_model_exclude_none=True, dependencies=[_LIMIT])
async def list_webhooks(
    principal: CurrentUser, deps: Deps, limit: Limit = 20, cursor: Cursor = None
) -> WebhookList:
    """The caller's endpoints, newest first."""
    resp = await call(
        deps.webhooks.ListWebhooks,
        webhooks_pb2.ListWebhooksRequest(
            caller=caller(principal), limit=limit, cursor=cursor or ""
        ),
        deps,
    )
    return WebhookList(
        webhooks=[Webhook(**_fields(w)) for w in resp.webhooks], pagination=_page(resp.next_cursor)
    )


# Before /{webhook_id}: "secret" is not an id.
@router.get(
    "/secret", response_model=SecretInfo, response_model_exclude_none=True, dependencies=[_LIMIT]
)
async def secret_info(principal: CurrentUser, deps: Deps) -> SecretInfo:
    """Whether the caller has a signing secret, since when, and any rotation overlap (never the
    secret itself)."""
    info = await call(
        deps.webhooks.GetSecretInfo,
        webhooks_pb2.GetSecretInfoRequest(caller=caller(principal)),
        deps,
    )
    return SecretInfo(
        exists=info.exists,
        created_at=_maybe(info, "created_at"),
        previous_valid_until=_maybe(info, "previous_valid_until"),
    )


@router.post(
    "/secret/rotate",
    response_model=SigningSecret,
    response_model_exclude_none=True,
    dependencies=[_LIMIT, Depends(no_store)],
)
async def rotate_secret(principal: CurrentUser, deps: Deps) -> SigningSecret:
    """A new signing secret, shown once. The previous one keeps signing beside it for the
    overlap (`previous_valid_until`), so receivers can switch without losing a message."""
    rotated = await call(
        deps.webhooks.RotateSecret,
        webhooks_pb2.RotateSecretRequest(caller=caller(principal)),
        deps,
    )
    return SigningSecret(
        secret=rotated.secret,
        previous_valid_until=_maybe(rotated, "previous_valid_until"),
        created_at=_time(rotated.created_at),
    )


@router.get(
    "/{webhook_id}",
    response_model=Webhook,
    response_model_exclude_none=True,
    responses=_NOT_FOUND,
    dependencies=[_LIMIT],
)
async def get_webhook(webhook_id: WebhookId, principal: CurrentUser, deps: Deps) -> Webhook:
    """One of the caller's endpoints."""
    found = await call(
        deps.webhooks.GetWebhook,
        webhooks_pb2.GetWebhookRequest(caller=caller(principal), id=str(webhook_id)),
        deps,
    )
    return Webhook(**_fields(found))


@router.patch(
    "/{webhook_id}",
    response_model=Webhook,
    response_model_exclude_none=True,
    responses=_NOT_FOUND,
    dependencies=[_LIMIT],
)
async def update_webhook(
    webhook_id: WebhookId, body: WebhookUpdate, principal: CurrentUser, deps: Deps
) -> Webhook:
    """Change url, events, description or enabled. Disabling ends its pending deliveries as
    failed; enabling clears the failure record (redeliver what was missed)."""
    request = webhooks_pb2.UpdateWebhookRequest(caller=caller(principal), id=str(webhook_id))
    if body.url is not None:
        request.url = body.url
    if body.events is not None:
        request.events.extend(e.value for e in body.events)
        request.has_events = True
    if body.enabled is not None:
        request.enabled = body.enabled
    if body.description is not None:
        request.description = body.description
    return Webhook(**_fields(await call(deps.webhooks.UpdateWebhook, request, deps)))


@router.delete("/{webhook_id}", status_code=204, responses=_NOT_FOUND, dependencies=[_LIMIT])
async def delete_webhook(webhook_id: WebhookId, principal: CurrentUser, deps: Deps) -> None:
    """Delete an endpoint; nothing more is sent to it."""
    await call(
        deps.webhooks.DeleteWebhook,
        webhooks_pb2.DeleteWebhookRequest(caller=caller(principal), id=str(webhook_id)),
        deps,
    )


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryList,
    response_model_exclude_none=True,
    responses=_NOT_FOUND,
    dependencies=[_LIMIT],
)
async def list_deliveries(
    webhook_id: WebhookId,
    principal: CurrentUser,
    deps: Deps,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> DeliveryList:
    """The endpoint's deliveries, newest first, each with every attempt: when, the status code
    (none when no answer came), latency and error."""
    resp = await call(
        deps.webhooks.ListDeliveries,
        webhooks_pb2.ListDeliveriesRequest(
            caller=caller(principal),
            webhook_id=str(webhook_id),
            limit=limit,
            cursor=cursor or "",
        ),
        deps,
    )
    return DeliveryList(
        deliveries=[_delivery(d) for d in resp.deliveries], pagination=_page(resp.next_cursor)
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=Delivery,
    response_model_exclude_none=True,
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorBody, "description": "The webhook is disabled"},
    },
    dependencies=[_LIMIT],
)
async def redeliver(
    webhook_id: WebhookId, delivery_id: DeliveryId, principal: CurrentUser, deps: Deps
) -> Delivery:
    """Send a delivery again now, under its original `webhook-id` (receivers that saw it
    already can drop it)."""
    found = await call(
        deps.webhooks.Redeliver,
        webhooks_pb2.RedeliverRequest(
            caller=caller(principal), webhook_id=str(webhook_id), delivery_id=str(delivery_id)
        ),
        deps,
    )
    return _delivery(found)
