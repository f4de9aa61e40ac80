"""Verifying access tokens locally with the auth service's public keys.

Only EdDSA is accepted: a token claiming `alg: none`, an HMAC algorithm, or any key the auth
service did not publish is refused before its claims are read.

A client sends the same access token with every request for its lifetime, so the verifier
remembers the tokens it verified (by their exact text): a token seen before skips the signature
check and decoding, which cost ≈ 130 µs per request. Its time window (exp, nbf, iat, with the
same leeway) is checked again against the clock on every request, and so is revocation.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from voidrunner.contracts.api_keys import ALL_SCOPES, KEY_PREFIX, KeyEntry, Scope, effective
from voidrunner.contracts.roles import Role
from voidrunner.contracts.tokens import (
    STREAM_TOKEN_AUDIENCE,
    STREAM_TOKEN_EXECUTION_CLAIM,
    STREAM_TOKEN_TYPE,
)

ALGORITHMS = ["EdDSA"]
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "type"]
# Seconds of clock skew allowed on exp, nbf and iat (the same on a cache hit as on decoding).
LEEWAY_SECONDS = 5
# Verified tokens remembered per verifier; the oldest is forgotten first. A token is ≈ 0.5 KB.
CACHE_SIZE = 4096


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
    # What the caller may do, implied scopes included: everything for a session token.
    scopes: frozenset[Scope] = ALL_SCOPES
    # Set when the caller came with an API key (its id), not a session token.
    api_key_id: str | None = None


class ApiKeySet:
    """What the verifier needs from the API-key watcher."""

    def lookup(self, token: str, now: dt.datetime) -> tuple[str, KeyEntry] | None:
        raise NotImplementedError


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
    api_keys_bucket: str = ""

    @classmethod
    def from_pems(
        cls,
        pems: Mapping[str, str],
        *,
        issuer: str,
        audience: str,
        revocation_bucket: str,
        api_keys_bucket: str = "",
    ) -> PublishedKeys:
        """Parse PEM public keys by kid; keys that are not Ed25519 are refused."""
        keys: dict[str, Ed25519PublicKey] = {}
        for kid, pem in pems.items():
            key = load_pem_public_key(pem.encode())
            if not isinstance(key, Ed25519PublicKey):
                msg = f"key {kid} is not an Ed25519 public key"
                raise TypeError(msg)
            keys[kid] = key
        return cls(
            keys=keys,
            issuer=issuer,
            audience=audience,
            revocation_bucket=revocation_bucket,
            api_keys_bucket=api_keys_bucket,
        )


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token whose signature and claims checked out: its caller and its time window."""

    principal: Principal
    # Valid while not_before <= now < expires (exp, nbf and iat with the leeway applied).
    not_before: float
    expires: float


class TokenVerifier:
    """Checks signature, issuer, audience, times, type and revocation of access tokens."""

    def __init__(
        self,
        keys: PublishedKeys,
        revocations: RevocationSet,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = CACHE_SIZE,
        api_keys: ApiKeySet | None = None,
    ) -> None:
        if cache_size < 1:
            msg = "cache_size must be at least 1"
            raise ValueError(msg)
        self._keys = keys
        self._revocations = revocations
        self._api_keys = api_keys
        self._clock = clock
        self._cache_size = cache_size
        # token text → what verifying it established; insertion order is age (oldest first).
        self._cache: dict[str, _Verified] = {}

    def verify(self, token: str) -> Principal:
        """The caller behind `token` (an access token or an API key), or InvalidToken."""
        if token.startswith(KEY_PREFIX):
            return self._api_key(token)
        verified = self._cache.get(token)
        remembered = verified is not None
        if verified is None:
            verified = self._decode(token)
        # On every request, remembered or not: a token expires, and a session can be revoked,
        # at any moment.
        if not self._live(verified):
            if remembered:
                self._cache.pop(token, None)
            raise InvalidToken
        if not remembered:
            self._remember(token, verified)
        return verified.principal

    def _api_key(self, token: str) -> Principal:
        """Never remembered: the watcher's copy is the live truth, and a lookup is cheap."""
        if self._api_keys is None:
            raise InvalidToken
        found = self._api_keys.lookup(token, dt.datetime.fromtimestamp(self._clock(), dt.UTC))
        if found is None:
            raise InvalidToken
        key_id, entry = found
        return Principal(
            user_id=entry.user_id,
            email=entry.email,
            role=Role.ADMIN if entry.is_admin else Role.USER,
            # The key stands for its session: stream tokens it asks for name it.
            session_id=key_id,
            token_id=key_id,
            scopes=effective(entry.scopes),
            api_key_id=key_id,
        )

    def verify_stream(self, token: str, execution_id: str) -> Principal:
        """The caller behind a stream token for `execution_id`'s logs, or InvalidToken.

        Never remembered: such a token is used once, to open one stream.
        """
        verified = self._decode(
            token, audience=STREAM_TOKEN_AUDIENCE, kind=STREAM_TOKEN_TYPE, execution=execution_id
        )
        if not self._live(verified):
            raise InvalidToken
        return verified.principal

    def _live(self, verified: _Verified) -> bool:
        """Within its time window, and its session not revoked."""
        now = self._clock()
        return verified.not_before <= now < verified.expires and not self._revocations.is_revoked(
            verified.principal.session_id
        )

    def _decode(
        self,
        token: str,
        *,
        audience: str | None = None,
        kind: str = "access",
        execution: str | None = None,
    ) -> _Verified:
        """Check signature and claims (PyJWT also checks the times, on its own clock)."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.keys.get(str(header.get("kid", "")))
            if key is None or header.get("alg") not in ALGORITHMS:
                raise InvalidToken
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=audience or self._keys.audience,
                issuer=self._keys.issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=LEEWAY_SECONDS,
            )
            if claims["type"] != kind:
                raise InvalidToken
            if execution is not None and claims.get(STREAM_TOKEN_EXECUTION_CLAIM) != execution:
                raise InvalidToken
            principal = Principal(
                user_id=uuid.UUID(str(claims["sub"])),
                email=str(claims.get("email", "")),
                role=str(claims.get("role", Role.USER)),
                session_id=str(claims["sid"]),
                token_id=str(claims["jti"]),
            )
            # PyJWT's rules: refused when iat or nbf > now + leeway, or exp <= now - leeway.
            return _Verified(
                principal=principal,
                not_before=max(int(claims["iat"]), int(claims["nbf"])) - LEEWAY_SECONDS,
                expires=int(claims["exp"]) + LEEWAY_SECONDS,
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken from exc

    def _remember(self, token: str, verified: _Verified) -> None:
        while len(self._cache) >= self._cache_size:
            del self._cache[next(iter(self._cache))]
        self._cache[token] = verified
