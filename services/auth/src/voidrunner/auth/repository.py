"""SQL access for users, sessions and refresh tokens (queries live in sql/queries.sql)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

from voidrunner.common.db import Conn, Queries


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    email: str
    name: str
    role: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RefreshRow:
    id: uuid.UUID
    session_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: dt.datetime
    used_at: dt.datetime | None
    session_revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    scopes: tuple[str, ...]
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ValidKeyRow:
    """A key as the valid-keys bucket publishes it."""

    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    role: str
    scopes: tuple[str, ...]
    secret_hash: str
    expires_at: dt.datetime | None


def _api_key(row: asyncpg.Record) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        scopes=tuple(row["scopes"]),
        prefix=row["prefix"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
    )


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class AuthRepository:
    """Every statement takes the connection it runs on, so callers choose the transaction."""

    def __init__(self, queries: Queries) -> None:
        self._q = queries

    async def insert_user(
        self, conn: Conn, user_id: uuid.UUID, email: str, name: str, pw_hash: str
    ) -> UserRecord | None:
        """The new user, or None when the email is taken (case-insensitively)."""
        row = await conn.fetchrow(self._q.insert_user, user_id, email, name, pw_hash)
        return None if row is None else _user(row)

    async def user_by_email(self, conn: Conn, email: str) -> tuple[UserRecord, str] | None:
        """The user and their password hash."""
        row = await conn.fetchrow(self._q.user_by_email, email)
        return None if row is None else (_user(row), row["password_hash"])

    async def user_by_id(self, conn: Conn, user_id: uuid.UUID) -> UserRecord | None:
        row = await conn.fetchrow(self._q.user_by_id, user_id)
        return None if row is None else _user(row)

    async def insert_session(self, conn: Conn, session_id: uuid.UUID, user_id: uuid.UUID) -> None:
        await conn.execute(self._q.insert_session, session_id, user_id)

    async def insert_refresh_token(
        self,
        conn: Conn,
        token_id: uuid.UUID,
        session_id: uuid.UUID,
        expires_at: dt.datetime,
    ) -> None:
        await conn.execute(self._q.insert_refresh_token, token_id, session_id, expires_at)

    async def lock_refresh_token(self, conn: Conn, token_id: uuid.UUID) -> RefreshRow | None:
        """The token and its session, locked until the transaction ends."""
        row = await conn.fetchrow(self._q.lock_refresh_token, token_id)
        if row is None:
            return None
        return RefreshRow(
            id=row["id"],
            session_id=row["session_id"],
            user_id=row["user_id"],
            expires_at=row["expires_at"],
            used_at=row["used_at"],
            session_revoked_at=row["revoked_at"],
        )

    async def mark_refresh_token_used(self, conn: Conn, token_id: uuid.UUID) -> None:
        await conn.execute(self._q.mark_refresh_token_used, token_id)

    async def revoke_session(self, conn: Conn, session_id: uuid.UUID, reason: str) -> bool:
        """True when this call revoked it (False when unknown or already revoked)."""
        return await conn.fetchval(self._q.revoke_session, session_id, reason) is not None

    async def sessions_revoked_since(
        self, conn: Conn, since: dt.datetime
    ) -> list[tuple[uuid.UUID, dt.datetime]]:
        rows = await conn.fetch(self._q.sessions_revoked_since, since)
        return [(r["id"], r["revoked_at"]) for r in rows]

    async def insert_api_key(
        self,
        conn: Conn,
        key_id: uuid.UUID,
        user_id: uuid.UUID,
        name: str,
        scopes: list[str],
        secret_hash: str,
        prefix: str,
        expires_at: dt.datetime | None,
    ) -> ApiKeyRecord:
        row = await conn.fetchrow(
            self._q.insert_api_key, key_id, user_id, name, scopes, secret_hash, prefix, expires_at
        )
        assert row is not None  # INSERT … RETURNING always returns the row
        return _api_key(row)

    async def api_keys_page(
        self,
        conn: Conn,
        user_id: uuid.UUID,
        limit: int,
        after: tuple[dt.datetime, uuid.UUID] | None,
    ) -> list[ApiKeyRecord]:
        """Up to `limit` unrevoked keys, newest first, after the (created_at, id) `after`."""
        created, key_id = after if after is not None else (None, None)
        rows = await conn.fetch(self._q.api_keys_page, user_id, limit, created, key_id)
        return [_api_key(r) for r in rows]

    async def revoke_api_key(self, conn: Conn, key_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """True when this call revoked the user's key."""
        return await conn.fetchval(self._q.revoke_api_key, key_id, user_id) is not None

    async def touch_api_keys(self, conn: Conn, ids: list[uuid.UUID], at: dt.datetime) -> None:
        await conn.execute(self._q.touch_api_keys, ids, at)

    async def valid_api_keys(
        self, conn: Conn, user_id: uuid.UUID | None = None
    ) -> list[ValidKeyRow]:
        """Keys that are neither revoked nor expired: everyone's, or one user's."""
        rows = await conn.fetch(self._q.valid_api_keys, user_id)
        return [
            ValidKeyRow(
                id=r["id"],
                user_id=r["user_id"],
                email=r["email"],
                role=r["role"],
                scopes=tuple(r["scopes"]),
                secret_hash=r["secret_hash"],
                expires_at=r["expires_at"],
            )
            for r in rows
        ]

    async def password_hash_of(self, conn: Conn, user_id: uuid.UUID) -> str | None:
        """The user's password hash, or None for an unknown user."""
        found: str | None = await conn.fetchval(self._q.password_hash_of, user_id)
        return found

    async def set_password_hash(self, conn: Conn, user_id: uuid.UUID, pw_hash: str) -> None:
        await conn.execute(self._q.set_password_hash, user_id, pw_hash)

    async def revoke_other_sessions(
        self, conn: Conn, user_id: uuid.UUID, keep: uuid.UUID
    ) -> list[tuple[uuid.UUID, dt.datetime]]:
        """Revoke every session of the user but `keep`; the ones revoked, with when."""
        rows = await conn.fetch(self._q.revoke_other_sessions, user_id, keep)
        return [(r["id"], r["revoked_at"]) for r in rows]

    async def set_user_role(self, conn: Conn, email: str, role: str) -> uuid.UUID | None:
        """The id of the user with `email`, now of `role`; None when there is none."""
        found: uuid.UUID | None = await conn.fetchval(self._q.set_user_role, email, role)
        return found

    async def revoke_user_sessions(
        self, conn: Conn, user_id: uuid.UUID, reason: str
    ) -> list[tuple[uuid.UUID, dt.datetime]]:
        """Revoke every live session of the user; the ones revoked, with when."""
        rows = await conn.fetch(self._q.revoke_user_sessions, user_id, reason)
        return [(r["id"], r["revoked_at"]) for r in rows]
