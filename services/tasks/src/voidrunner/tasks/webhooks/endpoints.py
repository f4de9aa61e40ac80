"""Webhook endpoints and signing secrets, on behalf of one caller.

Ownership is enforced in every query: another user's endpoint or delivery is "not found". A URL
is vetted when it is registered (syntax, then DNS: every address must be public or
allow-listed) and again by the sender at every attempt, since DNS may change in between.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

import asyncpg

from voidrunner.common.db import Conn
from voidrunner.common.errors import FailedPrecondition, NotFound
from voidrunner.common.text import is_storable_text
from voidrunner.contracts.webhooks import ALL_EVENTS
from voidrunner.tasks import cursor as cursors
from voidrunner.tasks.cursor import Cursor, SortField, SortOrder
from voidrunner.tasks.errors import FieldErrors, Violation
from voidrunner.tasks.service import parse_id
from voidrunner.tasks.webhooks.errors import UnresolvableWebhookHost, UnsafeWebhookUrl
from voidrunner.tasks.webhooks.guard import UrlGuard
from voidrunner.tasks.webhooks.sealing import SecretBox
from voidrunner.tasks.webhooks.signing import generate_secret
from voidrunner.tasks.webhooks.store import (
    DeliveryRecord,
    EndpointRecord,
    SecretRecord,
    WebhookStore,
)

WEBHOOKS_CURSOR = "webhooks"
DELIVERIES_CURSOR = "deliveries"
MAX_LIMIT = 100
MAX_URL_CHARS = 2048
MAX_DESCRIPTION_CHARS = 500
_NO_TIME = dt.datetime.min.replace(tzinfo=dt.UTC)


class WebhookNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Webhook not found")


class DeliveryNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Delivery not found")


class WebhookDisabled(FailedPrecondition):
    def __init__(self) -> None:
        super().__init__("Webhook is disabled; enable it before redelivering")


@dataclass(frozen=True, slots=True)
class EndpointPatch:
    """The fields an update changes (None: unchanged)."""

    url: str | None = None
    events: list[str] | None = None
    enabled: bool | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """Rows of one page, and where the next starts (None: this was the last)."""

    endpoints: list[EndpointRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: list[DeliveryRecord]
    next_cursor: str | None


def check_events(raw: list[str], field: str = "events") -> list[str]:
    """The event types, deduplicated in catalogue order; empty means every event."""
    if not raw:
        return [e.value for e in ALL_EVENTS]
    known = {e.value for e in ALL_EVENTS}
    bad = [v for v in raw if v not in known]
    if bad:
        allowed = ", ".join(sorted(known))
        raise FieldErrors(
            [Violation(f"{field}", "oneof", f"events must be among: {allowed}", bad[0][:100])]
        )
    wanted = set(raw)
    return [e.value for e in ALL_EVENTS if e.value in wanted]


class WebhookService:
    """Endpoints, deliveries and secrets of a caller."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: WebhookStore,
        guard: UrlGuard,
        *,
        max_endpoints: int,
        secret_overlap_seconds: float,
        box: SecretBox,
    ) -> None:
        self._box = box
        self._pool = pool
        self._store = store
        self._guard = guard
        self._max_endpoints = max_endpoints
        self._overlap = secret_overlap_seconds

    async def vet_url(self, url: str, field: str) -> str:
        """`url` if webhooks may be sent there now, else FieldErrors naming `field`."""
        if len(url) > MAX_URL_CHARS:
            raise FieldErrors(
                [Violation(field, "max", f"{field} must be at most {MAX_URL_CHARS} characters")]
            )
        try:
            await self._guard.vet(url)
        except (UnsafeWebhookUrl, UnresolvableWebhookHost) as exc:
            raise FieldErrors([Violation(field, "url", exc.message, url[:200])]) from None
        return url

    async def ensure_secret(self, conn: Conn, user_id: uuid.UUID) -> str | None:
        """Create the user's signing secret if they have none; returns it only then."""
        secret = generate_secret()
        created = await self._store.create_secret(conn, user_id, self._box.seal(secret, user_id))
        return secret if created else None

    async def create(
        self,
        user_id: uuid.UUID,
        url: str,
        events: list[str],
        *,
        enabled: bool,
        description: str,
    ) -> tuple[EndpointRecord, str | None]:
        """A new endpoint, and the caller's secret when this created it."""
        _check_description(description)
        event_types = check_events(events)
        await self.vet_url(url, "url")
        async with self._pool.acquire() as conn, conn.transaction():
            # The count and the insert race only against the same user's other creates; one
            # endpoint over the cap in that race is harmless, so no lock is taken.
            if await self._store.count_endpoints(conn, user_id) >= self._max_endpoints:
                raise FieldErrors(
                    [Violation("url", "max", f"at most {self._max_endpoints} webhooks per user")]
                )
            created = await self._store.insert_endpoint(
                conn,
                EndpointRecord(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    url=url,
                    event_types=event_types,
                    description=description,
                    enabled=enabled,
                    disabled_reason=None,
                    consecutive_failures=0,
                    failing_since=None,
                    created_at=_NO_TIME,
                    updated_at=_NO_TIME,
                ),
            )
            secret = await self.ensure_secret(conn, user_id)
        return created, secret

    async def get(self, user_id: uuid.UUID, webhook_id: str) -> EndpointRecord:
        """The caller's endpoint, or WebhookNotFound."""
        eid = parse_id(webhook_id)
        if eid is None:
            raise WebhookNotFound
        async with self._pool.acquire() as conn:
            found = await self._store.endpoint(conn, eid, user_id)
        if found is None:
            raise WebhookNotFound
        return found

    async def list(self, user_id: uuid.UUID, limit: int, cursor: str) -> Page:
        """The caller's endpoints, newest first."""
        limit = _limit(limit)
        after = _position(cursor, WEBHOOKS_CURSOR)
        async with self._pool.acquire() as conn:
            rows = await self._store.list_endpoints(conn, user_id, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(
            rows, _next(rows[-1].created_at, rows[-1].id, WEBHOOKS_CURSOR) if more else None
        )

    async def update(
        self, user_id: uuid.UUID, webhook_id: str, patch: EndpointPatch
    ) -> EndpointRecord:
        """Change an endpoint; enabling one clears its failure record."""
        if patch.description is not None:
            _check_description(patch.description)
        events = check_events(patch.events) if patch.events is not None else None
        if patch.url is not None:
            await self.vet_url(patch.url, "url")
        eid = parse_id(webhook_id)
        if eid is None:
            raise WebhookNotFound
        async with self._pool.acquire() as conn, conn.transaction():
            current = await self._store.endpoint(conn, eid, user_id)
            if current is None:
                raise WebhookNotFound
            changed = replace(
                current,
                url=patch.url if patch.url is not None else current.url,
                event_types=events if events is not None else current.event_types,
                description=(
                    patch.description if patch.description is not None else current.description
                ),
            )
            if patch.enabled is True and not current.enabled:
                changed = replace(
                    changed,
                    enabled=True,
                    disabled_reason=None,
                    consecutive_failures=0,
                    failing_since=None,
                )
            elif patch.enabled is False:
                changed = replace(changed, enabled=False, disabled_reason=None)
            updated = await self._store.update_endpoint(conn, changed)
            if updated is None:
                raise WebhookNotFound
            if not updated.enabled and current.enabled:
                await self._store.fail_pending(conn, eid)
        return updated

    async def delete(self, user_id: uuid.UUID, webhook_id: str) -> None:
        """Delete an endpoint and its deliveries."""
        eid = parse_id(webhook_id)
        if eid is None:
            raise WebhookNotFound
        async with self._pool.acquire() as conn:
            if not await self._store.delete_endpoint(conn, eid, user_id):
                raise WebhookNotFound

    async def deliveries(
        self, user_id: uuid.UUID, webhook_id: str, limit: int, cursor: str
    ) -> DeliveryPage:
        """An endpoint's delivery log, newest first, each delivery with its attempts."""
        endpoint = await self.get(user_id, webhook_id)
        limit = _limit(limit)
        after = _position(cursor, DELIVERIES_CURSOR)
        async with self._pool.acquire() as conn:
            rows = await self._store.list_deliveries(conn, endpoint.id, user_id, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return DeliveryPage(
            rows, _next(rows[-1].created_at, rows[-1].id, DELIVERIES_CURSOR) if more else None
        )

    async def redeliver(
        self, user_id: uuid.UUID, webhook_id: str, delivery_id: str
    ) -> DeliveryRecord:
        """Queue a delivery again now (same webhook-id)."""
        endpoint = await self.get(user_id, webhook_id)
        did = parse_id(delivery_id)
        if did is None:
            raise DeliveryNotFound
        if not endpoint.enabled:
            raise WebhookDisabled
        async with self._pool.acquire() as conn:
            found = await self._store.redeliver(conn, did, endpoint.id, user_id)
        if found is None:
            raise DeliveryNotFound
        return found

    async def rotate_secret(self, user_id: uuid.UUID) -> SecretRecord:
        """A new secret for the caller (created if they had none)."""
        secret = generate_secret()
        async with self._pool.acquire() as conn:
            stored = await self._store.rotate_secret(
                conn, user_id, self._box.seal(secret, user_id), self._overlap
            )
        # The answer carries the secret itself (shown once); only the sealed form is stored.
        return replace(stored, secret=secret, previous=None)

    async def secret_info(self, user_id: uuid.UUID) -> SecretRecord | None:
        """The caller's secret record (the gateway shows only its times)."""
        async with self._pool.acquire() as conn:
            return await self._store.secret(conn, user_id)


def _check_description(text: str) -> None:
    if len(text) > MAX_DESCRIPTION_CHARS or not is_storable_text(text):
        raise FieldErrors(
            [
                Violation(
                    "description",
                    "max",
                    f"description must be at most {MAX_DESCRIPTION_CHARS} printable characters",
                )
            ]
        )


def _limit(limit: int) -> int:
    if limit == 0:
        return 20
    if not 1 <= limit <= MAX_LIMIT:
        raise FieldErrors([Violation("limit", "max", f"limit must be 1 to {MAX_LIMIT}")])
    return limit


def _position(cursor: str, kind: str) -> tuple[dt.datetime, uuid.UUID] | None:
    if not cursor:
        return None
    found = cursors.decode(cursor, kind)
    assert isinstance(found.value, dt.datetime)  # decode checks the value against the field
    return found.value, found.id


def _next(at: dt.datetime, row_id: uuid.UUID, kind: str) -> str:
    return cursors.encode(Cursor(kind, SortField.CREATED_AT, SortOrder.DESC, at, row_id))


__all__ = [
    "DeliveryNotFound",
    "EndpointPatch",
    "WebhookDisabled",
    "WebhookNotFound",
    "WebhookService",
    "check_events",
]
