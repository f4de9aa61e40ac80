"""Signing access and refresh tokens, and reading back refresh tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import jwt

from voidrunner.auth.errors import InvalidRefreshToken
from voidrunner.auth.keys import ALGORITHM, SigningKey
from voidrunner.contracts.tokens import (
    STREAM_TOKEN_AUDIENCE,
    STREAM_TOKEN_EXECUTION_CLAIM,
    STREAM_TOKEN_TTL_SECONDS,
    STREAM_TOKEN_TYPE,
)

STREAM_TTL = dt.timedelta(seconds=STREAM_TOKEN_TTL_SECONDS)


@dataclass(frozen=True, slots=True)
class TokenSubject:
    user_id: uuid.UUID
    email: str
    role: str


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    token_id: uuid.UUID
    session_id: uuid.UUID
    user_id: uuid.UUID


class TokenIssuer:
    """Signs JWTs with the service's Ed25519 key; only this class sees the private key."""

    def __init__(
        self,
        key: SigningKey,
        *,
        issuer: str,
        audience: str,
        access_ttl: dt.timedelta,
        refresh_ttl: dt.timedelta,
    ) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    def _sign(
        self,
        subject: TokenSubject,
        *,
        kind: str,
        jti: uuid.UUID,
        session_id: uuid.UUID,
        now: dt.datetime,
        expires_at: dt.datetime,
    ) -> str:
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(subject.user_id),
            "user_id": str(subject.user_id),
            "email": subject.email,
            "role": subject.role,
            "type": kind,
            "sid": str(session_id),
            "jti": str(jti),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        return jwt.encode(
            claims, self.key.private_key, algorithm=ALGORITHM, headers={"kid": self.key.kid}
        )

    def access_token(self, subject: TokenSubject, session_id: uuid.UUID, now: dt.datetime) -> str:
        """A short-lived access token for `subject` in `session_id`."""
        return self._sign(
            subject,
            kind="access",
            jti=uuid.uuid4(),
            session_id=session_id,
            now=now,
            expires_at=now + self.access_ttl,
        )

    def refresh_token(
        self,
        subject: TokenSubject,
        session_id: uuid.UUID,
        token_id: uuid.UUID,
        now: dt.datetime,
    ) -> str:
        """A refresh token whose jti is the refresh_tokens row id."""
        return self._sign(
            subject,
            kind="refresh",
            jti=token_id,
            session_id=session_id,
            now=now,
            expires_at=now + self.refresh_ttl,
        )

    def stream_token(
        self,
        user_id: uuid.UUID,
        execution_id: uuid.UUID,
        session_id: uuid.UUID,
        now: dt.datetime,
        *,
        email: str = "",
    ) -> str:
        """A token good for reading one execution's log stream only (contracts.tokens)."""
        claims = {
            "iss": self.issuer,
            "aud": STREAM_TOKEN_AUDIENCE,
            "sub": str(user_id),
            "type": STREAM_TOKEN_TYPE,
            STREAM_TOKEN_EXECUTION_CLAIM: str(execution_id),
            "sid": str(session_id),
            "jti": str(uuid.uuid4()),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + STREAM_TTL).timestamp()),
        }
        if email:  # tasks shared with it are matched by the email (voidrunner.tasks.shares)
            claims["email"] = email
        return jwt.encode(
            claims, self.key.private_key, algorithm=ALGORITHM, headers={"kid": self.key.kid}
        )

    def read_refresh_token(self, token: str) -> RefreshClaims:
        """Verify signature, issuer, audience, expiry and type; raise InvalidRefreshToken if not."""
        try:
            claims = jwt.decode(
                token,
                self.key.private_key.public_key(),
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "nbf", "jti", "sub", "sid", "type"]},
            )
            if claims["type"] != "refresh":
                raise InvalidRefreshToken
            return RefreshClaims(
                token_id=uuid.UUID(claims["jti"]),
                session_id=uuid.UUID(claims["sid"]),
                user_id=uuid.UUID(claims["sub"]),
            )
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise InvalidRefreshToken from exc
