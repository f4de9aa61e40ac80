"""Verifying access tokens locally with the auth service's public keys.

Only EdDSA is accepted: a token claiming `alg: none`, an HMAC algorithm, or any key the auth
service did not publish is refused before its claims are read.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

ALGORITHMS = ["EdDSA"]
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "type"]


class InvalidToken(Exception):
    """The token is malformed, forged, expired, revoked or of the wrong type."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: uuid.UUID
    email: str
    role: str
    session_id: str
    token_id: str


class RevocationSet:
    """What the verifier needs from the revocation watcher."""

    def is_revoked(self, session_id: str) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class PublishedKeys:
    """The auth service's verification keys and token parameters."""

    keys: Mapping[str, Ed25519PublicKey]
    issuer: str
    audience: str
    revocation_bucket: str

    @classmethod
    def from_pems(
        cls, pems: Mapping[str, str], *, issuer: str, audience: str, revocation_bucket: str
    ) -> PublishedKeys:
        """Parse PEM public keys by kid; keys that are not Ed25519 are refused."""
        keys: dict[str, Ed25519PublicKey] = {}
        for kid, pem in pems.items():
            key = load_pem_public_key(pem.encode())
            if not isinstance(key, Ed25519PublicKey):
                msg = f"key {kid} is not an Ed25519 public key"
                raise TypeError(msg)
            keys[kid] = key
        return cls(keys=keys, issuer=issuer, audience=audience, revocation_bucket=revocation_bucket)


class TokenVerifier:
    """Checks signature, issuer, audience, times, type and revocation of access tokens."""

    def __init__(self, keys: PublishedKeys, revocations: RevocationSet) -> None:
        self._keys = keys
        self._revocations = revocations

    def verify(self, token: str) -> Principal:
        """The caller behind `token`, or InvalidToken."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.keys.get(str(header.get("kid", "")))
            if key is None or header.get("alg") not in ALGORITHMS:
                raise InvalidToken
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self._keys.audience,
                issuer=self._keys.issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=5,
            )
            if claims["type"] != "access":
                raise InvalidToken
            principal = Principal(
                user_id=uuid.UUID(str(claims["sub"])),
                email=str(claims.get("email", "")),
                role=str(claims.get("role", "user")),
                session_id=str(claims["sid"]),
                token_id=str(claims["jti"]),
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken from exc
        if self._revocations.is_revoked(principal.session_id):
            raise InvalidToken
        return principal
