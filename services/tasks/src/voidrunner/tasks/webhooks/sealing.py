"""Signing secrets at rest: sealed with AES-256-GCM under the operator's key.

A webhook secret must be recoverable (it signs every delivery), so it cannot be hashed like a
password or an API key. Sealed, a copy of the database (a backup, a dump, a replica) gives no
one the power to forge deliveries to users' receivers; the key lives in the tasks service's
environment only. The user id is the associated data, so a sealed secret moved to another
user's row does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1:"
_NONCE_BYTES = 12
KEY_BYTES = 32


class SealError(ValueError):
    """A sealed value that does not open under this key (another key, or tampered with)."""


def generate_key() -> str:
    """A new sealing key, as the setting takes it (base64 of 32 random bytes)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def parse_key(text: str) -> bytes:
    """The 32 bytes a base64 key setting encodes; ValueError naming what is wrong."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret key is not base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"the webhook secret key must encode {KEY_BYTES} bytes, not {len(key)}")
    return key


class SecretBox:
    """Seals and opens signing secrets of one user at a time."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: str, user_id: uuid.UUID) -> str:
        """`secret` sealed for `user_id`: `v1:` and base64 of nonce, ciphertext and tag."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), user_id.bytes)
        return _VERSION + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, user_id: uuid.UUID) -> str:
        """The secret `sealed` holds for `user_id`; SealError if it does not open."""
        if not sealed.startswith(_VERSION):
            raise SealError("not a sealed secret")
        try:
            raw = base64.b64decode(sealed[len(_VERSION) :], validate=True)
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], user_id.bytes)
        except (binascii.Error, ValueError, InvalidTag):
            raise SealError("the sealed secret does not open under this key") from None
        return plain.decode()
