"""The signing key that once shipped with the sources is refused wherever it comes from."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voidrunner.auth.keys import PublishedKey, SigningKey

# The raw seed of the key .env.example and the Kubernetes dev overlay used to carry (in git
# history): kept here as bytes, not as a PEM, so no private key file is committed.
PUBLISHED_SEED = bytes.fromhex("0926a00ca392bd036eabab38d19a0e17cabadd01d425623eafc359a352ca453c")


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_the_published_key_is_refused() -> None:
    with pytest.raises(PublishedKey, match="published in VoidRunner's git history"):
        SigningKey.from_pem(_pem(Ed25519PrivateKey.from_private_bytes(PUBLISHED_SEED)))


def test_a_key_of_ones_own_is_accepted() -> None:
    assert SigningKey.from_pem(_pem(Ed25519PrivateKey.generate())).kid
