"""The WebhooksService gRPC servicer: protobuf in, WebhookService calls, protobuf out.

Only the gateway calls it (tasks.access), always for one caller.
"""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp

from voidrunner.proto.webhooks.v1 import webhooks_pb2, webhooks_pb2_grpc
from voidrunner.tasks.servicer import Context, caller_from, field_violations
from voidrunner.tasks.webhooks.endpoints import EndpointPatch, WebhookService
from voidrunner.tasks.webhooks.store import DeliveryRecord, EndpointRecord, SecretRecord

SERVICE_NAME = webhooks_pb2.DESCRIPTOR.services_by_name["WebhooksService"].full_name


def _ts(value: dt.datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def webhook_message(e: EndpointRecord) -> webhooks_pb2.Webhook:
    """The protobuf form of an endpoint (its failure counters stay inside)."""
    return webhooks_pb2.Webhook(
        id=str(e.id),
        url=e.url,
        events=e.event_types,
        enabled=e.enabled,
        disabled_reason=e.disabled_reason or "",
        description=e.description,
        created_at=_ts(e.created_at),
        updated_at=_ts(e.updated_at),
    )


def delivery_message(d: DeliveryRecord) -> webhooks_pb2.Delivery:
    """The protobuf form of a delivery with its attempt log."""
    return webhooks_pb2.Delivery(
        id=str(d.id),
        message_id=d.message_id,
        webhook_id=str(d.endpoint_id) if d.endpoint_id else "",
        event_type=d.event_type,
        execution_id=str(d.execution_id),
        state=d.state,
        attempts=d.attempts,
        next_attempt_at=_ts(d.next_attempt_at),
        created_at=_ts(d.created_at),
        attempt_log=[
            webhooks_pb2.Attempt(
                attempt=a.attempt,
                attempted_at=_ts(a.attempted_at),
                status_code=a.status_code,
                latency_ms=a.latency_ms,
                error=a.error or "",
            )
            for a in d.attempt_log
        ],
    )


def secret_message(s: SecretRecord) -> webhooks_pb2.SigningSecret:
    """The protobuf form of a freshly rotated secret (the only answer that carries it)."""
    return webhooks_pb2.SigningSecret(
        secret=s.secret,
        previous_valid_until=_ts(s.previous_valid_until),
        created_at=_ts(s.created_at),
    )


class WebhooksServicer(webhooks_pb2_grpc.WebhooksServiceServicer):
    """Each RPC forwards to WebhookService for the request's caller."""

    def __init__(self, webhooks: WebhookService) -> None:
        self._webhooks = webhooks

    async def CreateWebhook(
        self, request: webhooks_pb2.CreateWebhookRequest, context: Context
    ) -> webhooks_pb2.CreateWebhookResponse:
        with field_violations(context):
            created, secret = await self._webhooks.create(
                caller_from(request.caller).user_id,
                request.url,
                list(request.events),
                enabled=request.enabled,
                description=request.description,
            )
        return webhooks_pb2.CreateWebhookResponse(
            webhook=webhook_message(created), secret=secret or ""
        )

    async def GetWebhook(
        self, request: webhooks_pb2.GetWebhookRequest, context: Context
    ) -> webhooks_pb2.Webhook:
        with field_violations(context):
            found = await self._webhooks.get(caller_from(request.caller).user_id, request.id)
        return webhook_message(found)

    async def ListWebhooks(
        self, request: webhooks_pb2.ListWebhooksRequest, context: Context
    ) -> webhooks_pb2.ListWebhooksResponse:
        with field_violations(context):
            page = await self._webhooks.list(
                caller_from(request.caller).user_id, request.limit, request.cursor
            )
        return webhooks_pb2.ListWebhooksResponse(
            webhooks=[webhook_message(e) for e in page.endpoints],
            next_cursor=page.next_cursor or "",
        )

    async def UpdateWebhook(
        self, request: webhooks_pb2.UpdateWebhookRequest, context: Context
    ) -> webhooks_pb2.Webhook:
        patch = EndpointPatch(
            url=request.url if request.HasField("url") else None,
            events=list(request.events) if request.has_events else None,
            enabled=request.enabled if request.HasField("enabled") else None,
            description=request.description if request.HasField("description") else None,
        )
        with field_violations(context):
            updated = await self._webhooks.update(
                caller_from(request.caller).user_id, request.id, patch
            )
        return webhook_message(updated)

    async def DeleteWebhook(
        self, request: webhooks_pb2.DeleteWebhookRequest, context: Context
    ) -> webhooks_pb2.DeleteWebhookResponse:
        with field_violations(context):
            await self._webhooks.delete(caller_from(request.caller).user_id, request.id)
        return webhooks_pb2.DeleteWebhookResponse()

    async def ListDeliveries(
        self, request: webhooks_pb2.ListDeliveriesRequest, context: Context
    ) -> webhooks_pb2.ListDeliveriesResponse:
        with field_violations(context):
            page = await self._webhooks.deliveries(
                caller_from(request.caller).user_id,
                request.webhook_id,
                request.limit,
                request.cursor,
            )
        return webhooks_pb2.ListDeliveriesResponse(
            deliveries=[delivery_message(d) for d in page.deliveries],
            next_cursor=page.next_cursor or "",
        )

    async def Redeliver(
        self, request: webhooks_pb2.RedeliverRequest, context: Context
    ) -> webhooks_pb2.Delivery:
        with field_violations(context):
            found = await self._webhooks.redeliver(
                caller_from(request.caller).user_id, request.webhook_id, request.delivery_id
            )
        return delivery_message(found)

    async def RotateSecret(
        self, request: webhooks_pb2.RotateSecretRequest, context: Context
    ) -> webhooks_pb2.SigningSecret:
        with field_violations(context):
            rotated = await self._webhooks.rotate_secret(caller_from(request.caller).user_id)
        return secret_message(rotated)

    async def GetSecretInfo(
        self, request: webhooks_pb2.GetSecretInfoRequest, context: Context
    ) -> webhooks_pb2.SecretInfo:
        with field_violations(context):
            found = await self._webhooks.secret_info(caller_from(request.caller).user_id)
        if found is None:
            return webhooks_pb2.SecretInfo(exists=False)
        return webhooks_pb2.SecretInfo(
            exists=True,
            created_at=_ts(found.created_at),
            previous_valid_until=_ts(found.previous_valid_until),
        )
