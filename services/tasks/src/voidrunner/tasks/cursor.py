"""Opaque keyset cursors: base64url JSON of the sort spec, the last row's sort value and its id.

A cursor is only a position in the caller's own rows (every list filters on the owner), so it
needs no signature; it is validated strictly so a malformed or mismatched one is a clean 400.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import json
import uuid
from dataclasses import dataclass
from typing import Any

from voidrunner.common.text import is_storable_text as clean_text
from voidrunner.tasks.errors import InvalidCursor

MAX_CURSOR_CHARS = 1024
SortValue = dt.datetime | int | str


class SortField(enum.StrEnum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    PRIORITY = "priority"
    NAME = "name"


class SortOrder(enum.StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: strictly after (value, id) in (field, order)."""

    kind: str
    field: SortField
    order: SortOrder
    value: SortValue
    id: uuid.UUID


def encode(cursor: Cursor) -> str:
    """The opaque text handed to clients (URL-safe, unpadded)."""
    value: Any = cursor.value
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).isoformat()
    doc = {
        "k": cursor.kind,
        "f": cursor.field.value,
        "o": cursor.order.value,
        "v": value,
        "id": str(cursor.id),
    }
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(text: str, kind: str) -> Cursor:
    """Parse and validate a cursor of `kind`; InvalidCursor for anything else."""
    if not text or len(text) > MAX_CURSOR_CHARS:
        raise InvalidCursor
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        doc = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor from None
    if not isinstance(doc, dict) or set(doc) != {"k", "f", "o", "v", "id"} or doc["k"] != kind:
        raise InvalidCursor
    try:
        field = SortField(doc["f"])
        order = SortOrder(doc["o"])
        row_id = uuid.UUID(str(doc["id"]))
    except ValueError:
        raise InvalidCursor from None
    return Cursor(kind, field, order, _value(field, doc["v"]), row_id)


def _value(field: SortField, raw: Any) -> SortValue:
    if field in (SortField.CREATED_AT, SortField.UPDATED_AT):
        if not isinstance(raw, str):
            raise InvalidCursor
        try:
            stamp = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidCursor from None
        if stamp.tzinfo is None:
            raise InvalidCursor
        return stamp
    if field is SortField.PRIORITY:
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= 10:
            raise InvalidCursor
        return raw
    if not isinstance(raw, str) or not 1 <= len(raw) <= 255 or not clean_text(raw):
        raise InvalidCursor
    return raw
