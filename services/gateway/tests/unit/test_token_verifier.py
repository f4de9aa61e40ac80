"""TokenVerifier on its own: the cache of verified tokens never outlives expiry or revocation.

The end-to-end forgeries are in tests/integration/test_auth_tokens.py; here the verifier's clock
is the test's, so a cached token can be driven past its expiry to the second. (PyJWT, on first
verification, reads the real clock; the tokens' times are set from it.)
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voidrunner.gateway.tokens import (
    LEEWAY_SECONDS,
    InvalidToken,
    PublishedKeys,
    RevocationSet,
    TokenVerifier,
)

KID = "k1"
PRIVATE = Ed25519PrivateKey.generate()
KEYS = PublishedKeys.from_pems(
    {
        KID: PRIVATE.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    },
    issuer="voidrunner",
    audience="voidrunner-api",
    revocation_bucket="revoked",
)


class Revoked(RevocationSet):
    def __init__(self) -> None:
        self.sessions: set[str] = set()

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self.sessions


class Clock:
    """The verifier's clock; `start` is the real time the test began (the tokens' `iat`)."""

    def __init__(self) -> None:
        self.start = int(time.time())
        self.now: float = self.start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token handed to PyJWT's decode (signature check) from now on."""
    seen: list[str] = []
    real = jwt.decode

    def decode(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", decode)  # the verifier calls jwt.decode
    return seen


def _token(clock: Clock, **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": "voidrunner",
        "aud": "voidrunner-api",
        "sub": str(uuid.uuid4()),
        "email": "eve@example.com",
        "role": "user",
        "type": "access",
        "sid": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "iat": clock.start,
        "nbf": clock.start,
        "exp": clock.start + 600,
    }
    claims.update(overrides)
    return jwt.encode(claims, PRIVATE, algorithm="EdDSA", headers={"kid": KID})


def _verifier(clock: Clock, revoked: RevocationSet | None = None, **kw: Any) -> TokenVerifier:
    return TokenVerifier(KEYS, revoked or Revoked(), clock=clock, **kw)


def test_a_verified_token_is_not_decoded_again(clock: Clock, decodes: list[str]) -> None:
    verifier = _verifier(clock)
    token = _token(clock)
    first = verifier.verify(token)
    assert verifier.verify(token) == first
    assert decodes == [token]


def test_a_cached_token_is_refused_once_expired_with_the_same_leeway(
    clock: Clock, decodes: list[str]
) -> None:
    verifier = _verifier(clock)
    exp = clock.start + 60
    token = _token(clock, exp=exp)
    verifier.verify(token)
    # PyJWT's rule, kept on a cache hit: refused when exp <= now - leeway.
    clock.now = exp + LEEWAY_SECONDS - 0.001
    verifier.verify(token)
    assert decodes == [token]
    clock.now = exp + LEEWAY_SECONDS
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    clock.now = exp + 3600
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    # Forgotten once refused: the later attempt went through the full verification again.
    assert decodes == [token, token]


def test_a_cached_token_is_refused_before_its_not_before(clock: Clock, decodes: list[str]) -> None:
    verifier = _verifier(clock)
    token = _token(clock, nbf=clock.start + 3)  # within the leeway: accepted now
    verifier.verify(token)
    clock.now = clock.start + 3 - LEEWAY_SECONDS - 1  # the clock stepped back
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_revocation_is_checked_on_every_request(clock: Clock, decodes: list[str]) -> None:
    revoked = Revoked()
    verifier = _verifier(clock, revoked)
    token = _token(clock)
    session = verifier.verify(token).session_id
    verifier.verify(token)
    revoked.sessions.add(session)
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_tampered_tokens_sharing_a_cached_prefix_are_refused(
    clock: Clock, decodes: list[str]
) -> None:
    verifier = _verifier(clock)
    good = _token(clock)
    verifier.verify(good)
    head, body, sig = good.split(".")
    flipped = "A" if sig[-2] != "A" else "B"
    for forged in (
        f"{head}.{body}.{sig[:-2]}{flipped}{sig[-1]}",
        f"{head}.{body}.{sig[:-4]}AAAA",
        f"{head}.{body}.",
        f"{head}.{body}",
        good + "A",
        good + ".x",
        good[:-2],
        f"{head}.{_token(clock).split('.')[1]}.{sig}",  # another payload under this signature
    ):
        with pytest.raises(InvalidToken):
            verifier.verify(forged)
    assert verifier.verify(good)  # the genuine one is still accepted


def test_failures_are_never_cached(clock: Clock, decodes: list[str]) -> None:
    verifier = _verifier(clock)
    expired = _token(clock, exp=clock.start - 60)
    refresh = _token(clock, type="refresh")
    for token in (expired, refresh, "not.a.jwt"):
        for _ in range(2):
            with pytest.raises(InvalidToken):
                verifier.verify(token)
    assert decodes == [expired, expired, refresh, refresh]  # "not.a.jwt" fails before decoding
    revoked = Revoked()
    token = _token(clock)
    revoked.sessions.add(jwt.decode(token, options={"verify_signature": False})["sid"])
    strict = _verifier(clock, revoked)
    with pytest.raises(InvalidToken):
        strict.verify(token)
    # Accepted by PyJWT on the real clock, refused on the verifier's (an hour on): not kept.
    late = _verifier(clock)
    clock.now = clock.start + 3600
    with pytest.raises(InvalidToken):
        late.verify(_token(clock))
    assert len(verifier._cache) == len(strict._cache) == len(late._cache) == 0


def test_the_cache_stays_bounded_and_forgets_the_oldest(clock: Clock, decodes: list[str]) -> None:
    verifier = _verifier(clock, cache_size=3)
    many = [_token(clock) for _ in range(10)]
    for token in many:
        verifier.verify(token)
        assert len(verifier._cache) <= 3
    assert list(verifier._cache) == many[-3:]
    decodes.clear()
    verifier.verify(many[-1])
    assert decodes == []
    verifier.verify(many[0])  # forgotten: verified in full again, evicting the oldest
    assert decodes == [many[0]]
    assert list(verifier._cache) == [*many[-2:], many[0]]
