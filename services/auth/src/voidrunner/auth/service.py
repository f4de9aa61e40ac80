"""The auth rules: registration, login, single-use refresh rotation with reuse detection, logout."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from voidrunner.auth.errors import (
    BadRegistration,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    WrongCurrentPassword,
)
from voidrunner.auth.passwords import Passwords
from voidrunner.auth.repository import AuthRepository, UserRecord
from voidrunner.auth.revocation import RevocationSink
from voidrunner.auth.tokens import STREAM_TTL, TokenIssuer, TokenSubject
from voidrunner.common.db import Conn
from voidrunner.common.errors import InvalidArgument, NotFound
from voidrunner.common.logs import get_logger
from voidrunner.common.text import is_storable_text

_log = get_logger("voidrunner.auth.service")
MAX_EMAIL = 255
MAX_NAME = 255
MIN_PASSWORD = 8
MAX_PASSWORD = 128


@dataclass(frozen=True, slots=True)
class Session:
    """What a successful register/login/refresh hands back."""

    user: UserRecord
    access_token: str
    refresh_token: str
    expires_in: int


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AuthService:
    """Owns users and sessions. The gateway validates the public contract; this re-checks sanity."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: AuthRepository,
        passwords: Passwords,
        tokens: TokenIssuer,
        revocations: RevocationSink,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._pool = pool
        self._repo = repo
        self._passwords = passwords
        self._tokens = tokens
        self._revocations = revocations
        self._clock = clock

    async def register(self, email: str, password: str, name: str) -> Session:
        """Create a user (email unique case-insensitively) and open a session."""
        email, name = email.strip(), name.strip()
        _check_registration(email, password, name)
        pw_hash = await self._passwords.hash(password)
        async with self._pool.acquire() as conn, conn.transaction():
            user = await self._repo.insert_user(conn, uuid.uuid4(), email, name, pw_hash)
            if user is None:
                raise EmailTaken
            session = await self._open_session(conn, user)
        _log.info("user registered", user_id=str(user.id))
        return session

    async def login(self, email: str, password: str) -> Session:
        """Check the password; a wrong email and a wrong password look the same, timing included."""
        email = email.strip()
        if len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD or not is_storable_text(email):
            await self._passwords.verify_dummy(password[:MAX_PASSWORD])
            raise InvalidCredentials
        async with self._pool.acquire() as conn:
            found = await self._repo.user_by_email(conn, email)
        if found is None:
            await self._passwords.verify_dummy(password)
            raise InvalidCredentials
        user, pw_hash = found
        if not await self._passwords.verify(pw_hash, password):
            raise InvalidCredentials
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._open_session(conn, user)

    async def refresh(self, refresh_token: str) -> Session:
        """Rotate: the presented token is used up and a new pair issued in the same session.

        Presenting a token that was already used means it leaked: the whole session is revoked.
        """
        claims = self._tokens.read_refresh_token(refresh_token)
        reuse_detected = False
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._repo.lock_refresh_token(conn, claims.token_id)
            if row is None or row.session_id != claims.session_id:
                raise InvalidRefreshToken
            if row.session_revoked_at is not None or row.expires_at <= self._clock():
                raise InvalidRefreshToken
            if row.used_at is not None:
                reuse_detected = await self._repo.revoke_session(
                    conn, row.session_id, "refresh token reuse"
                )
            else:
                await self._repo.mark_refresh_token_used(conn, row.id)
                user = await self._repo.user_by_id(conn, row.user_id)
                if user is None:
                    raise InvalidRefreshToken
                return await self._issue(conn, user, row.session_id)
        if reuse_detected:
            _log.warning("refresh token reuse; session revoked", session_id=str(claims.session_id))
            await self._revocations.publish(claims.session_id, self._clock())
        raise InvalidRefreshToken

    async def logout(self, refresh_token: str, session_id: str) -> None:
        """Revoke the session of the refresh token and/or the given session id. Never fails."""
        targets: set[uuid.UUID] = set()
        if refresh_token:
            with contextlib.suppress(InvalidRefreshToken):
                targets.add(self._tokens.read_refresh_token(refresh_token).session_id)
        if session_id:
            with contextlib.suppress(ValueError):
                targets.add(uuid.UUID(session_id))
        for sid in targets:
            async with self._pool.acquire() as conn:
                revoked = await self._repo.revoke_session(conn, sid, "logout")
            if revoked:
                await self._revocations.publish(sid, self._clock())

    async def change_password(self, user_id: str, session_id: str, current: str, new: str) -> None:
        """Replace the password; every session but `session_id` is revoked (keys are kept)."""
        try:
            uid, keep = uuid.UUID(user_id), uuid.UUID(session_id)
        except ValueError:
            raise InvalidArgument("user_id and session_id must be UUIDs") from None
        if not (MIN_PASSWORD <= len(new) <= MAX_PASSWORD) or not is_storable_text(new):
            raise BadRegistration("new_password must be 8 to 128 characters")
        async with self._pool.acquire() as conn:
            old_hash = await self._repo.password_hash_of(conn, uid)
        if old_hash is None:
            raise NotFound("User not found")
        if len(current) > MAX_PASSWORD or not await self._passwords.verify(old_hash, current):
            raise WrongCurrentPassword
        new_hash = await self._passwords.hash(new)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._repo.set_password_hash(conn, uid, new_hash)
            revoked = await self._repo.revoke_other_sessions(conn, uid, keep)
        for sid, at in revoked:
            await self._revocations.publish(sid, at)
        _log.info("password changed", user_id=str(uid), sessions_revoked=len(revoked))

    async def get_user(self, user_id: str) -> UserRecord:
        """The user with `user_id`; NotFound for a malformed or unknown id."""
        try:
            uid = uuid.UUID(user_id)
        except ValueError:
            raise NotFound("User not found") from None
        async with self._pool.acquire() as conn:
            user = await self._repo.user_by_id(conn, uid)
        if user is None:
            raise NotFound("User not found")
        return user

    def stream_token(
        self, user_id: str, execution_id: str, session_id: str, email: str = ""
    ) -> tuple[str, int]:
        """(token, lifetime in seconds) for reading one execution's logs; the caller (the
        gateway) has checked that the user may read that execution. `email` (that of the
        user's access token) rides along: an execution of a task shared with it is readable."""
        try:
            ids = uuid.UUID(user_id), uuid.UUID(execution_id), uuid.UUID(session_id)
        except ValueError:
            raise InvalidArgument("user_id, execution_id and session_id must be UUIDs") from None
        token = self._tokens.stream_token(*ids, self._clock(), email=email)
        return token, int(STREAM_TTL.total_seconds())

    async def revoked_since(self, since: dt.datetime) -> list[tuple[uuid.UUID, dt.datetime]]:
        """Sessions revoked since `since` (for the revocation sync loop)."""
        async with self._pool.acquire() as conn:
            return await self._repo.sessions_revoked_since(conn, since)

    async def _open_session(self, conn: Conn, user: UserRecord) -> Session:
        session_id = uuid.uuid4()
        await self._repo.insert_session(conn, session_id, user.id)
        return await self._issue(conn, user, session_id)

    async def _issue(self, conn: Conn, user: UserRecord, session_id: uuid.UUID) -> Session:
        now = self._clock()
        token_id = uuid.uuid4()
        await self._repo.insert_refresh_token(
            conn, token_id, session_id, now + self._tokens.refresh_ttl
        )
        subject = TokenSubject(user_id=user.id, email=user.email, role=user.role)
        return Session(
            user=user,
            access_token=self._tokens.access_token(subject, session_id, now),
            refresh_token=self._tokens.refresh_token(subject, session_id, token_id, now),
            expires_in=int(self._tokens.access_ttl.total_seconds()),
        )


def _check_registration(email: str, password: str, name: str) -> None:
    # Text columns refuse NUL: refused here as bad input, not left for the database to 500 on.
    if not is_storable_text(email) or not is_storable_text(name):
        raise BadRegistration("email and name must not contain NUL or invalid characters")
    if not (3 <= len(email) <= MAX_EMAIL) or "@" not in email:
        raise BadRegistration("email must be a valid address of at most 255 characters")
    if not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
        raise BadRegistration("password must be 8 to 128 characters")
    if not name or len(name) > MAX_NAME:
        raise BadRegistration("name must be 1 to 255 characters")
