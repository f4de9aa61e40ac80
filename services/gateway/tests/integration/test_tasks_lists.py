"""Task lists through the gateway: keyset paging in every sort, offsets, filters, bad queries.

Rows are bulk-inserted with asyncpg (many ties on every sort key on purpose); paging always goes
through the API.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

Headers = dict[str, str]
TASKS = "/api/v1/tasks"
ROWS = 300
SORTS = list(itertools.product(("created_at", "updated_at", "priority", "name"), ("asc", "desc")))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    try:
        yield conn
    finally:
        await conn.close()


async def _user_id(client: httpx.AsyncClient, headers: Headers) -> uuid.UUID:
    me = await client.get("/api/v1/auth/me", headers=headers)
    return uuid.UUID(me.json()["user"]["id"])


async def _insert(conn: asyncpg.Connection, user: uuid.UUID, n: int, seed: int) -> list[uuid.UUID]:
    rng = random.Random(seed)
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ids = [uuid.uuid4() for _ in range(n)]
    await conn.executemany(
        "INSERT INTO tasks (id, user_id, name, description, script_content, script_type, status,"
        " priority, timeout_seconds, metadata, memory_limit_mb, cpu_limit, max_output_bytes,"
        " created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, 'print(1)', $5, $6, $7, 300, $8, 256, 1.0, 1048576, $9, $10)",
        [
            (
                i, user, f"job-{rng.randint(0, 40)}", f"runs {rng.choice(['etl', 'ml'])}",
                rng.choice(["python", "bash"]), rng.choice(["pending", "completed", "failed"]),
                rng.randint(0, 10), {"team": f"t{k % 3}", "n": k},
                base + dt.timedelta(seconds=rng.randint(0, 20)),
                base + dt.timedelta(seconds=rng.randint(0, 20)),
            )
            for k, i in enumerate(ids)
        ],
    )  # fmt: skip
    return ids


async def _page_through(
    client: httpx.AsyncClient, headers: Headers, params: dict[str, Any], between: Any = None
) -> list[str]:
    seen: list[str] = []
    resp = await client.get(TASKS, params=params, headers=headers)
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        seen += [t["id"] for t in body["tasks"]]
        page = body["pagination"]
        if not page["has_more"]:
            assert "next_cursor" not in page
            return seen
        assert body["tasks"], "a page with more after it is never empty"
        if between is not None:
            await between()
        cursor_params = {"cursor": page["next_cursor"], "limit": params["limit"]}
        resp = await client.get(TASKS, params=cursor_params, headers=headers)
        assert "total" not in resp.json()


@pytest.mark.parametrize(("field", "order"), SORTS)
async def test_keyset_paging_is_complete_and_ordered(
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    db: asyncpg.Connection,
    field: str,
    order: str,
) -> None:
    user = await _user_id(client, alice)
    await _insert(db, user, ROWS, seed=1)
    await _insert(db, await _user_id(client, bob), 20, seed=2)  # someone else's rows
    expected = [
        str(r["id"])
        for r in await db.fetch(
            f"SELECT id FROM tasks WHERE user_id = $1 ORDER BY {field} {order}, id {order}",  # noqa: S608
            user,
        )
    ]
    params: dict[str, Any] = {"limit": 37, "sort_field": field, "sort_order": order}
    first = (await client.get(TASKS, params=params, headers=alice)).json()
    assert first["total"] == ROWS
    assert first["offset"] == 0
    assert await _page_through(client, alice, params) == expected

    # Rows inserted between page requests never make an existing row skip or repeat.
    counter = itertools.count()

    async def insert_more() -> None:
        await _insert(db, user, 3, seed=100 + next(counter))

    seen = await _page_through(client, alice, params, between=insert_more)
    assert len(seen) == len(set(seen))
    assert set(expected) <= set(seen)


async def test_offset_mode_and_switching_to_cursors(
    client: httpx.AsyncClient, alice: Headers, db: asyncpg.Connection
) -> None:
    user = await _user_id(client, alice)
    await _insert(db, user, 45, seed=3)
    everything: list[str] = []
    for offset in (0, 20, 40):
        body = (await client.get(TASKS, params={"offset": offset}, headers=alice)).json()
        assert (body["total"], body["limit"], body["offset"]) == (45, 20, offset)
        everything += [t["id"] for t in body["tasks"]]
        assert body["pagination"]["has_more"] is (offset + 20 < 45)
        assert ("next_cursor" in body["pagination"]) is (offset + 20 < 45)
    assert len(set(everything)) == 45
    middle = (await client.get(TASKS, params={"offset": 20}, headers=alice)).json()
    after = await client.get(
        TASKS, params={"cursor": middle["pagination"]["next_cursor"]}, headers=alice
    )
    assert [t["id"] for t in after.json()["tasks"]] == everything[40:]


async def test_filters(client: httpx.AsyncClient, alice: Headers, db: asyncpg.Connection) -> None:
    user = await _user_id(client, alice)
    await _insert(db, user, 30, seed=4)
    special = {"name": "sale 50%_off", "script_content": "x", "script_type": "bash"}
    made = await client.post(TASKS, json={**special, "metadata": {"team": "t9"}}, headers=alice)
    assert made.status_code == 201
    decoy = {**special, "name": "sale 5000 off", "description": "50Xoff"}
    assert (await client.post(TASKS, json=decoy, headers=alice)).status_code == 201

    async def ids(**params: str) -> set[str]:
        resp = await client.get(TASKS, params={"limit": "100", **params}, headers=alice)
        assert resp.status_code == 200, resp.text
        assert resp.json()["total"] == len(resp.json()["tasks"])
        return {t["id"] for t in resp.json()["tasks"]}

    assert await ids(q="50%_off") == {made.json()["id"]}  # wildcards are literal
    assert await ids(q="SALE") == {made.json()["id"], (await ids(q="5000")).pop()}
    rows = await db.fetch(
        "SELECT id, status, script_type, metadata FROM tasks WHERE user_id = $1", user
    )

    def by(column: str, value: str) -> set[str]:
        return {str(r["id"]) for r in rows if r[column] == value}

    assert await ids(status="failed") == by("status", "failed")
    assert await ids(script_type="bash") == by("script_type", "bash")
    team1 = {str(r["id"]) for r in rows if r["metadata"].get("team") == "t1"}
    assert await ids(metadata='{"team":"t1"}') == team1
    assert await ids(metadata='{"team":"t9"}', script_type="bash") == {made.json()["id"]}
    assert await ids(status="running") == set()


SORT_FIELDS = "sort_field must be one of: created_at, updated_at, priority, name"
STATUSES = "status must be one of: pending, running, completed, failed, timeout, cancelled"
BAD_TEXT = "metadata filter must not contain NUL or invalid characters"
BAD_QUERIES = [
    ({"limit": "0"}, "limit must be between 1 and 100"),
    ({"limit": "101"}, "limit must be between 1 and 100"),
    ({"limit": "ten"}, "limit must be between 1 and 100"),
    ({"offset": "-1"}, "offset must be a non-negative integer"),
    ({"offset": "99999999999"}, "offset must be a non-negative integer"),
    ({"sort_field": "password"}, SORT_FIELDS),
    ({"sort_order": "up"}, "sort_order must be one of: asc, desc"),
    ({"status": "done"}, STATUSES),
    ({"metadata": "{"}, "metadata filter must be valid JSON"),
    ({"metadata": "[1]"}, "metadata filter must be a JSON object"),
    ({"metadata": '{"a":"\\u0000"}'}, BAD_TEXT),
    ({"q": "\x00"}, "q must not contain NUL or invalid characters"),
    ({"q": "x" * 256}, "q must be at most 255 characters"),
    ({"script_type": "py\x00"}, "script_type must not contain NUL or invalid characters"),
    ({"script_type": "p" * 65}, "script_type must be at most 64 characters"),
    ({"limit": "1_0"}, "limit must be between 1 and 100"),
    ({"limit": " 10"}, "limit must be between 1 and 100"),
    ({"status": ""}, STATUSES),
    ({"cursor": "garbage"}, "Invalid cursor"),
    ({"cursor": "eyJrIjoidGFza3MifQ"}, "Invalid cursor"),
]  # fmt: skip


async def test_bad_list_queries(client: httpx.AsyncClient, alice: Headers) -> None:
    for params, error in BAD_QUERIES:
        resp = await client.get(TASKS, params=params, headers=alice)
        assert resp.status_code == 400, (params, resp.text)
        assert resp.json() == {"error": error}, params


async def test_cursor_must_match_the_sort(
    client: httpx.AsyncClient, alice: Headers, db: asyncpg.Connection
) -> None:
    await _insert(db, await _user_id(client, alice), 5, seed=5)
    page = (
        await client.get(TASKS, params={"limit": 2, "sort_field": "name"}, headers=alice)
    ).json()
    cursor = page["pagination"]["next_cursor"]
    for params in (
        {"cursor": cursor, "sort_field": "priority"},
        {"cursor": cursor, "sort_order": "asc"},
    ):
        resp = await client.get(TASKS, params=params, headers=alice)
        assert (resp.status_code, resp.json()) == (400, {"error": "Invalid cursor"})
    same = await client.get(TASKS, params={"cursor": cursor, "sort_field": "name"}, headers=alice)
    assert same.status_code == 200
    both = await client.get(TASKS, params={"cursor": cursor, "offset": 0}, headers=alice)
    assert both.json() == {"error": "offset and cursor cannot be used together"}
