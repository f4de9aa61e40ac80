"""Signing secrets sealed at rest: they open for their user under their key, and nothing else."""

from __future__ import annotations

import uuid

import pytest

from voidrunner.tasks.webhooks.sealing import SealError, SecretBox, generate_key, parse_key
from voidrunner.tasks.webhooks.signing import generate_secret

ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def test_a_sealed_secret_opens_for_its_user_only() -> None:
    box = SecretBox(parse_key(generate_key()))
    secret = generate_secret()
    sealed = box.seal(secret, ALICE)
    assert secret not in sealed
    assert sealed.startswith("v1:")
    assert box.open(sealed, ALICE) == secret
    # Each seal has its own nonce: equal secrets do not look equal at rest.
    assert box.seal(secret, ALICE) != sealed
    with pytest.raises(SealError):
        box.open(sealed, BOB)
    with pytest.raises(SealError):
        SecretBox(parse_key(generate_key())).open(sealed, ALICE)


@pytest.mark.parametrize(
    "tampered",
    ["", "whsec_plain", "v1:", "v1:!!!", "v1:" + "A" * 40],
)
def test_anything_else_does_not_open(tampered: str) -> None:
    with pytest.raises(SealError):
        SecretBox(parse_key(generate_key())).open(tampered, ALICE)


def test_flipping_a_byte_is_noticed() -> None:
    box = SecretBox(parse_key(generate_key()))
    sealed = box.seal(generate_secret(), ALICE)
    body = bytearray(sealed.encode())
    body[20] = ord("B") if body[20] != ord("B") else ord("C")
    with pytest.raises(SealError):
        box.open(body.decode(), ALICE)


@pytest.mark.parametrize(
    ("text", "why"), [("not base64!", "base64"), ("AAAA", "32 bytes"), ("", "32 bytes")]
)
def test_bad_keys_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_key(text)
