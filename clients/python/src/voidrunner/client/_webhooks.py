"""Checking an incoming webhook delivery, for the receiver's side.

The signature scheme is Standard Webhooks' (`webhook-id`, `webhook-timestamp`,
`webhook-signature`: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`), so the check is the
reference library's rather than our own copy of it: the one the server's tests verify with.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping

from pydantic import ValidationError as PydanticValidationError
from standardwebhooks import webhooks as standard

from voidrunner.client._errors import WebhookVerificationFailed
from voidrunner.client._models import WebhookEvent


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str) -> WebhookEvent:
    """The delivery's event, once its signature and timestamp checked out under `secret`.

    `body` must be the raw request body, byte for byte (not re-serialised JSON); `headers`
    any mapping of the request's headers (names in any case). During a secret rotation the
    server signs with both secrets, so either one verifies. Raises WebhookVerificationFailed
    for a missing header, a wrong signature, a timestamp more than 5 minutes off, a malformed
    secret, or a body that is not an event.
    """
    try:
        verifier = standard.Webhook(secret)
    except (binascii.Error, ValueError, standard.EmptyWebhookSecretError) as exc:
        raise WebhookVerificationFailed(f"not a webhook secret (whsec_...): {exc}") from None
    # The library wants a dict and a str; any header mapping (httpx, starlette) is accepted here.
    try:
        text = body.decode() if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise WebhookVerificationFailed("the body is not UTF-8: not a delivery of ours") from None
    try:
        payload = verifier.verify(text, dict(headers.items()))
    except standard.WebhookVerificationError as exc:
        raise WebhookVerificationFailed(str(exc)) from None
    except (ValueError, binascii.Error) as exc:
        # A signature header that is not `v1,<base64>` makes the library fail to split or
        # decode it; to the receiver that is the same as a wrong signature.
        raise WebhookVerificationFailed(f"malformed webhook-signature: {exc}") from None
    try:
        return WebhookEvent.model_validate(payload)
    except PydanticValidationError as exc:
        raise WebhookVerificationFailed(f"signed, but not a VoidRunner event: {exc}") from None
