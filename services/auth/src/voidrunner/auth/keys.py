"""The token signing key: Ed25519, from a secret in production, generated once in development."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALGORITHM = "EdDSA"

# Key ids of signing keys that were once committed (.env.example and the Kubernetes dev overlay
# shipped the same one): anyone can read them in git history, so anyone could forge tokens.
PUBLISHED_KIDS = frozenset({"6-IhLVSoJdqWXZXb"})


class PublishedKey(ValueError):
    """The signing key is one that was published with VoidRunner's sources."""


class SigningKey:
    """An Ed25519 private key with its key id (a thumbprint of the public key)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode().rstrip("=")
        self.public_key_pem = (
            private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        """Load a PEM (PKCS#8) Ed25519 private key; anything else is refused."""
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            msg = "the auth signing key must be an Ed25519 private key"
            raise TypeError(msg)
        loaded = cls(key)
        if loaded.kid in PUBLISHED_KIDS:
            msg = (
                f"the auth signing key (kid {loaded.kid}) was published in VoidRunner's git "
                "history, so anyone can forge tokens with it: generate your own (make up does, "
                "or openssl genpkey -algorithm ed25519)"
            )
            raise PublishedKey(msg)
        return loaded

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Development only: read the key at `path`, creating it (mode 0600) on first start."""
        if path.exists():
            return cls.from_pem(path.read_text())
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return cls(key)
