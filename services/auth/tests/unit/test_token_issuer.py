"""Access and refresh tokens: what they carry, and what `read_refresh_token` refuses."""

from __future__ import annotations

import datetime as dt
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voidrunner.auth.errors import InvalidRefreshToken
from voidrunner.auth.keys import ALGORITHM, SigningKey
from voidrunner.auth.tokens import TokenIssuer, TokenSubject

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
SUBJECT = TokenSubject(user_id=uuid.uuid4(), email="ada@example.com", role="user")


def issuer(key: SigningKey | None = None, audience: str = "voidrunner-api") -> TokenIssuer:
    return TokenIssuer(
        key or SigningKey(Ed25519PrivateKey.generate()),
        issuer="voidrunner",
        audience=audience,
        access_ttl=dt.timedelta(minutes=15),
        refresh_ttl=dt.timedelta(days=7),
    )


def test_an_access_token_carries_its_session_and_expires_with_the_access_ttl() -> None:
    tokens = issuer()
    session = uuid.uuid4()
    token = tokens.access_token(SUBJECT, session, NOW)
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": tokens.key.kid, "typ": "JWT"}
    claims = jwt.decode(
        token,
        tokens.key.private_key.public_key(),
        algorithms=[ALGORITHM],
        audience="voidrunner-api",
        issuer="voidrunner",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert claims["type"] == "access"
    assert claims["sid"] == str(session)
    assert claims["sub"] == claims["user_id"] == str(SUBJECT.user_id)
    assert (claims["email"], claims["role"]) == ("ada@example.com", "user")
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_a_refresh_token_reads_back_its_row_session_and_user() -> None:
    tokens = issuer()
    session, row = uuid.uuid4(), uuid.uuid4()
    claims = tokens.read_refresh_token(tokens.refresh_token(SUBJECT, session, row, NOW))
    assert (claims.token_id, claims.session_id, claims.user_id) == (row, session, SUBJECT.user_id)


@pytest.mark.parametrize(
    "make",
    [
        # an access token is not a refresh token
        lambda t: t.access_token(SUBJECT, uuid.uuid4(), NOW),
        # expired
        lambda t: t.refresh_token(SUBJECT, uuid.uuid4(), uuid.uuid4(), NOW - dt.timedelta(days=8)),
        # signed by another key
        lambda t: issuer().refresh_token(SUBJECT, uuid.uuid4(), uuid.uuid4(), NOW),
        # for another audience
        lambda t: issuer(t.key, "elsewhere").refresh_token(
            SUBJECT, uuid.uuid4(), uuid.uuid4(), NOW
        ),
        # not a JWT at all
        lambda t: "garbage",
    ],
    ids=["access-token", "expired", "other-key", "other-audience", "garbage"],
)
def test_read_refresh_token_refuses(make: object) -> None:
    tokens = issuer()
    with pytest.raises(InvalidRefreshToken):
        tokens.read_refresh_token(make(tokens))  # type: ignore[operator]


def test_the_key_id_is_stable_for_a_key_and_differs_between_keys() -> None:
    key = Ed25519PrivateKey.generate()
    assert SigningKey(key).kid == SigningKey(key).kid
    assert SigningKey(key).kid != SigningKey(Ed25519PrivateKey.generate()).kid
