"""Standard Webhooks signatures: `whsec_` secrets and the three `webhook-*` headers.

The signed content is `{id}.{timestamp}.{body}` (HMAC-SHA256, base64), sent as `v1,<sig>`. During
a secret rotation an endpoint has several secrets, and the signature header carries one
signature per secret, space-separated, so a receiver holding either secret verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from secrets import token_bytes, token_urlsafe

from voidrunner.tasks.webhooks.errors import InvalidWebhookSecret

SECRET_PREFIX = "whsec_"
# The spec's bounds for symmetric secrets (192 to 512 bits).
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
DEFAULT_SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"

# The spec forbids `.` in the id (it delimits the signed content); the rest keeps ids header-safe.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def generate_secret(nbytes: int = DEFAULT_SECRET_BYTES) -> str:
    """A new signing secret: `whsec_` and the base64 of `nbytes` random bytes."""
    if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
        raise ValueError(f"nbytes must be {MIN_SECRET_BYTES}..{MAX_SECRET_BYTES}")
    return SECRET_PREFIX + base64.b64encode(token_bytes(nbytes)).decode("ascii")


def new_message_id() -> str:
    """A fresh `webhook-id`: the same for every attempt of one message (the idempotency key)."""
    return "msg_" + token_urlsafe(18)


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret encodes; refuses anything else with a reason."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidWebhookSecret(f"must start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhookSecret("not valid base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise InvalidWebhookSecret(f"must encode {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return key


def signature(message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The `webhook-signature` value: one `v1,<base64>` per secret, in the order given."""
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError("message id must be 1-128 characters of [A-Za-z0-9_-]")
    if timestamp < 0:
        raise ValueError("timestamp must be a non-negative Unix time")
    if not secrets:
        raise ValueError("at least one secret is needed")
    content = f"{message_id}.{timestamp}.".encode("ascii") + body
    return " ".join(
        f"{SIGNATURE_VERSION},"
        + base64.b64encode(hmac.new(secret_key(s), content, hashlib.sha256).digest()).decode()
        for s in secrets
    )


def signed_headers(
    message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (`timestamp`: the attempt's time)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(message_id, timestamp, body, secrets),
    }
