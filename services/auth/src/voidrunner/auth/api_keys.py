"""The API-key rules: create, list, revoke, last used, and the valid-keys bucket's rebuild."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from voidrunner.auth.key_bucket import KeySink, KvKeys
from voidrunner.auth.repository import ApiKeyRecord, AuthRepository, ValidKeyRow
from voidrunner.auth.revocation import RevocationSink
from voidrunner.common.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from voidrunner.common.logs import get_logger
from voidrunner.common.text import is_storable_text
from voidrunner.contracts.api_keys import (
    SECRET_BYTES,
    SHOWN_PREFIX_LENGTH,
    KeyEntry,
    Scope,
    format_key,
    secret_hash,
)
from voidrunner.contracts.roles import Role

_log = get_logger("voidrunner.auth.api_keys")
MAX_KEY_NAME = 100
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class CreatedKey:
    record: ApiKeyRecord
    key: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _uuid(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidArgument(f"{what} must be a UUID") from None


def _cursor(record: ApiKeyRecord) -> str:
    raw = f"{record.created_at.isoformat()}|{record.id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _after(cursor: str) -> tuple[dt.datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        created, _, key_id = base64.urlsafe_b64decode(cursor).decode().partition("|")
        after = dt.datetime.fromisoformat(created), uuid.UUID(key_id)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgument("Invalid cursor") from None
    if after[0].tzinfo is None:  # every cursor this service hands out has a zone
        raise InvalidArgument("Invalid cursor")
    return after


class ApiKeyService:
    """Owns API keys; the bucket mirrors the valid ones for gateways."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: AuthRepository,
        bucket: KeySink,
        clock: Callable[[], dt.datetime] = _now,
        revocations: RevocationSink | None = None,
    ) -> None:
        """`revocations`: where a revoked key is announced as a revoked session, so that the
        stream tokens it asked for (which name the key as their session) stop at once too."""
        self._pool = pool
        self._repo = repo
        self._bucket = bucket
        self._clock = clock
        self._revocations = revocations

    async def create(
        self, user_id: str, name: str, scopes: list[str], expires_at: dt.datetime | None
    ) -> CreatedKey:
        """A new key for the user; its text is in the result only."""
        uid = _uuid(user_id, "user_id")
        name = name.strip()
        if not name or len(name) > MAX_KEY_NAME or not is_storable_text(name):
            raise InvalidArgument("name must be 1 to 100 characters")
        try:
            wanted = [Scope(s) for s in scopes]
        except ValueError:
            raise InvalidArgument("scopes must be read, run, manage or admin") from None
        if not wanted or len(set(wanted)) != len(wanted):
            raise InvalidArgument("scopes must be a non-empty list without duplicates")
        if expires_at is not None and expires_at <= self._clock():
            raise InvalidArgument("expires_at must be in the future")
        key_id, secret = uuid.uuid4(), os.urandom(SECRET_BYTES)
        key = format_key(key_id, secret)
        hashed = secret_hash(secret)
        async with self._pool.acquire() as conn, conn.transaction():
            user = await self._repo.user_by_id(conn, uid)
            if user is None:
                raise NotFound("User not found")
            if Scope.ADMIN in wanted and user.role != Role.ADMIN:
                raise PermissionDenied("only an admin may create a key with the admin scope")
            record = await self._repo.insert_api_key(
                conn,
                key_id,
                uid,
                name,
                [s.value for s in wanted],
                hashed,
                key[:SHOWN_PREFIX_LENGTH],
                expires_at,
            )
        await self._bucket.put(
            key_id,
            KeyEntry(
                user_id=uid,
                email=user.email,
                scopes=frozenset(wanted),
                secret_hash=hashed,
                expires_at=expires_at,
                owner_role=Role(user.role),
            ),
        )
        _log.info("api key created", user_id=str(uid), key_id=str(key_id))
        return CreatedKey(record=record, key=key)

    async def page(self, user_id: str, limit: int, cursor: str) -> tuple[list[ApiKeyRecord], str]:
        """A page of the user's unrevoked keys, newest first, and the next page's cursor."""
        uid = _uuid(user_id, "user_id")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidArgument("limit must be between 1 and 100")
        async with self._pool.acquire() as conn:
            rows = await self._repo.api_keys_page(conn, uid, limit + 1, _after(cursor))
        page = rows[:limit]
        return page, _cursor(page[-1]) if len(rows) > limit else ""

    async def revoke(self, user_id: str, key_id: str) -> None:
        """Revoke the user's key; NotFound for a missing, revoked or another user's key."""
        uid = _uuid(user_id, "user_id")
        try:
            kid = uuid.UUID(key_id)
        except ValueError:
            raise NotFound("API key not found") from None
        async with self._pool.acquire() as conn, conn.transaction():
            if not await self._repo.revoke_api_key(conn, kid, uid):
                raise NotFound("API key not found")
            # Inside the transaction: if no gateway can hear of it, the key stays valid and
            # the caller sees an error, rather than a "revoked" key that still works.
            try:
                await self._bucket.delete(kid)
                if self._revocations is not None:
                    await self._revocations.publish(kid, self._clock())
            except Exception as exc:  # NATS away: retryable, and nothing was revoked
                raise Unavailable("API keys cannot be revoked right now") from exc
        _log.info("api key revoked", user_id=str(uid), key_id=str(kid))

    async def touch(self, ids: list[str], at: dt.datetime) -> None:
        """Record that these keys were used at `at` (ids that are not UUIDs are ignored)."""
        parsed: list[uuid.UUID] = []
        for text in ids:
            try:
                parsed.append(uuid.UUID(text))
            except ValueError:
                continue
        if parsed:
            async with self._pool.acquire() as conn:
                await self._repo.touch_api_keys(conn, parsed, at)

    async def rebuild_bucket(self, bucket: KvKeys) -> None:
        """Make the bucket hold exactly the keys PostgreSQL says are valid."""
        async with self._pool.acquire() as conn:
            rows = await self._repo.valid_api_keys(conn)
        await bucket.rebuild({r.id: _entry(r) for r in rows})

    async def republish_user(self, user_id: uuid.UUID) -> int:
        """Put the user's valid keys again (after a role change); how many."""
        async with self._pool.acquire() as conn:
            rows = await self._repo.valid_api_keys(conn, user_id)
        for r in rows:
            await self._bucket.put(r.id, _entry(r))
        return len(rows)


def _entry(row: ValidKeyRow) -> KeyEntry:
    return KeyEntry(
        user_id=row.user_id,
        email=row.email,
        scopes=frozenset(Scope(s) for s in row.scopes),
        secret_hash=row.secret_hash,
        expires_at=row.expires_at,
        owner_role=Role(row.role),
    )
