"""Keyset cursors: round trips for every sort key, and strict refusal of anything else."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest

from voidrunner.tasks import cursor as cursors
from voidrunner.tasks.cursor import Cursor, SortField, SortOrder
from voidrunner.tasks.errors import InvalidCursor

ROW = uuid.UUID("12345678-1234-4234-8234-123456789abc")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (SortField.CREATED_AT, dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)),
        (SortField.UPDATED_AT, dt.datetime(2026, 1, 2, tzinfo=dt.UTC)),
        (SortField.PRIORITY, 0),
        (SortField.PRIORITY, 10),
        (SortField.NAME, "nightly report ünïcode ✓"),
    ],
)
@pytest.mark.parametrize("order", list(SortOrder))
def test_round_trip(field: SortField, value: cursors.SortValue, order: SortOrder) -> None:
    original = Cursor("tasks", field, order, value, ROW)
    text = cursors.encode(original)
    assert "=" not in text
    assert text.isascii()
    assert cursors.decode(text, "tasks") == original


def test_timestamps_keep_microseconds_and_zone() -> None:
    stamp = dt.datetime(2026, 5, 1, 12, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    back = cursors.decode(
        cursors.encode(Cursor("tasks", SortField.CREATED_AT, SortOrder.ASC, stamp, ROW)), "tasks"
    )
    assert back.value == stamp


def _raw(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


GOOD = {"k": "tasks", "f": "priority", "o": "asc", "v": 3, "id": str(ROW)}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64 at all!",
        "%%%%",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _raw([1, 2]),
        _raw("string"),
        _raw({**GOOD, "k": "executions"}),
        _raw({**GOOD, "f": "password"}),
        _raw({**GOOD, "o": "sideways"}),
        _raw({**GOOD, "id": "nope"}),
        _raw({**GOOD, "v": "3"}),
        _raw({**GOOD, "v": 11}),
        _raw({**GOOD, "v": True}),
        _raw({**GOOD, "extra": 1}),
        _raw({k: v for k, v in GOOD.items() if k != "id"}),
        _raw({**GOOD, "f": "created_at", "v": "yesterday"}),
        _raw({**GOOD, "f": "created_at", "v": "2026-01-01T00:00:00"}),  # no zone
        _raw({**GOOD, "f": "name", "v": ""}),
        _raw({**GOOD, "f": "name", "v": "a\u0000b"}),
        _raw({**GOOD, "f": "name", "v": "\ud800"}),
        _raw({**GOOD, "f": "name", "v": 5}),
        "A" * 2000,
    ],
)
def test_malformed_cursors_are_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        cursors.decode(text, "tasks")
