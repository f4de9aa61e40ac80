"""The webhook delivery core: Standard Webhooks signing, the SSRF guard, one-attempt sender,
and the retry schedule. Wiring (routes, tables, the delivery loop) builds on these names only.

    guard = UrlGuard(allow_list=AllowList.parse(settings_entries))
    sender = WebhookSender(guard)
    result = await sender.send(url, message_id=new_message_id(), body=body, secrets=[secret])
    if not result.succeeded and result.retryable:
        when = next_attempt_at(attempts, now, unit=random.random(), retry_after=result.retry_after)
"""

from voidrunner.tasks.webhooks.addresses import IPAddress, unsafe_reason
from voidrunner.tasks.webhooks.allow_list import AllowList
from voidrunner.tasks.webhooks.errors import (
    InvalidWebhookSecret,
    UnresolvableWebhookHost,
    UnsafeWebhookUrl,
)
from voidrunner.tasks.webhooks.guard import Resolver, UrlGuard, VettedTarget, system_resolver
from voidrunner.tasks.webhooks.schedule import (
    DEFAULT_POLICY,
    DisableReason,
    RetryPolicy,
    disable_reason,
    next_attempt_at,
)
from voidrunner.tasks.webhooks.sender import (
    DeliveryResult,
    SenderConfig,
    WebhookSender,
    retry_after_seconds,
)
from voidrunner.tasks.webhooks.signing import (
    generate_secret,
    new_message_id,
    secret_key,
    signature,
    signed_headers,
)
from voidrunner.tasks.webhooks.urls import WebhookUrl, parse_webhook_url

__all__ = [
    "DEFAULT_POLICY",
    "AllowList",
    "DeliveryResult",
    "DisableReason",
    "IPAddress",
    "InvalidWebhookSecret",
    "Resolver",
    "RetryPolicy",
    "SenderConfig",
    "UnresolvableWebhookHost",
    "UnsafeWebhookUrl",
    "UrlGuard",
    "VettedTarget",
    "WebhookSender",
    "WebhookUrl",
    "disable_reason",
    "generate_secret",
    "new_message_id",
    "next_attempt_at",
    "parse_webhook_url",
    "retry_after_seconds",
    "secret_key",
    "signature",
    "signed_headers",
    "system_resolver",
    "unsafe_reason",
]
