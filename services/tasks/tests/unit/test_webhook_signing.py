"""Webhook signatures: every one we make verifies with the Standard Webhooks reference library."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from voidrunner.tasks.webhooks import (
    InvalidWebhookSecret,
    generate_secret,
    new_message_id,
    secret_key,
    signature,
    signed_headers,
)

BODY = json.dumps({"type": "execution.completed", "data": {"id": "ünï ✓"}}).encode()


def _now() -> int:
    return int(time.time())


@pytest.mark.parametrize("nbytes", [24, 32, 64])
def test_generated_secrets_have_the_spec_form(nbytes: int) -> None:
    secret = generate_secret(nbytes)
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == nbytes
    assert secret_key(secret) == base64.b64decode(secret[6:])


def test_generated_secrets_differ_and_default_to_32_bytes() -> None:
    secrets = {generate_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(len(secret_key(s)) == 32 for s in secrets)


@pytest.mark.parametrize("nbytes", [0, 16, 23, 65])
def test_generate_refuses_sizes_outside_the_spec(nbytes: int) -> None:
    with pytest.raises(ValueError, match="nbytes"):
        generate_secret(nbytes)


def test_the_reference_library_verifies_our_signature() -> None:
    secret = generate_secret()
    headers = signed_headers(new_message_id(), _now(), BODY, [secret])
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_rotation_sends_one_signature_per_secret_and_either_verifies() -> None:
    old, new = generate_secret(), generate_secret(24)
    headers = signed_headers(new_message_id(), _now(), BODY, [new, old])
    parts = headers["webhook-signature"].split(" ")
    assert len(parts) == 2
    assert all(part.startswith("v1,") for part in parts)
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_the_signature_covers_id_timestamp_and_body() -> None:
    secret = generate_secret()
    headers = signed_headers("msg_one", _now(), BODY, [secret])
    verifier = Webhook(secret)
    for tampered in (
        {**headers, "webhook-id": "msg_two"},
        {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
    ):
        with pytest.raises(WebhookVerificationError):
            verifier.verify(BODY, tampered)
    with pytest.raises(WebhookVerificationError):
        verifier.verify(BODY + b" ", headers)


def test_matches_the_reference_signer_byte_for_byte() -> None:
    secret = generate_secret()
    stamp = _now()
    ours = signature("msg_p5jXN8AQM9LWM0D4loKWxJek", stamp, BODY, [secret])
    theirs = Webhook(secret).sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        dt.datetime.fromtimestamp(stamp, tz=dt.UTC),
        BODY.decode(),
    )
    assert ours == theirs


def test_headers_carry_the_attempt_timestamp_and_id() -> None:
    headers = signed_headers("msg_x", 1674087231, b"{}", [generate_secret()])
    assert headers["webhook-id"] == "msg_x"
    assert headers["webhook-timestamp"] == "1674087231"
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}


def test_message_ids_are_unique_and_header_safe() -> None:
    ids = {new_message_id() for _ in range(100)}
    assert len(ids) == 100
    for message_id in ids:
        signature(message_id, 0, b"", [generate_secret()])


@pytest.mark.parametrize("message_id", ["", "msg.1", "msg 1", "msg\n1", "m" * 129])
def test_ids_that_could_confuse_the_signed_content_are_refused(message_id: str) -> None:
    with pytest.raises(ValueError, match="message id"):
        signature(message_id, 0, b"{}", [generate_secret()])


def test_no_secret_or_a_negative_timestamp_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        signature("msg_1", 0, b"{}", [])
    with pytest.raises(ValueError, match="timestamp"):
        signature("msg_1", -1, b"{}", [generate_secret()])


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("", "whsec_"),
        (base64.b64encode(b"k" * 32).decode(), "whsec_"),
        ("whsec_not base64!", "base64"),
        ("whsec_" + base64.b64encode(b"k" * 16).decode(), "24 to 64"),
        ("whsec_" + base64.b64encode(b"k" * 65).decode(), "24 to 64"),
    ],
)
def test_bad_secrets_are_refused_with_a_reason(secret: str, reason: str) -> None:
    with pytest.raises(InvalidWebhookSecret, match=reason):
        signature("msg_1", 0, b"{}", [secret])
