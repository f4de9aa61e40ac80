"""Named queries and the migration runner against a real PostgreSQL database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from voidrunner.common.db import Queries, create_pool, parse_queries
from voidrunner.common.migrations import Migrator, load_migrations


def test_parse_queries_splits_named_blocks() -> None:
    text = "-- name: one\nSELECT 1;\n\n-- name: two\nSELECT $1\nFROM t;\n"
    assert parse_queries(text) == {"one": "SELECT 1;", "two": "SELECT $1\nFROM t;"}
    with pytest.raises(ValueError, match="duplicate"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")


def test_queries_file_reports_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "q.sql"
    path.write_text("-- name: ping\nSELECT 1;\n")
    q = Queries(path)
    assert q.ping == "SELECT 1;"
    assert q.names() == ["ping"]
    with pytest.raises(AttributeError, match="no query named 'pong'"):
        _ = q.pong


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (directory / name).write_text(body)
    return directory


def test_migrations_must_be_numbered_without_gaps(tmp_path: Path) -> None:
    d = _write(tmp_path / "m", {"0001_a.sql": "SELECT 1;", "0003_c.sql": "SELECT 1;"})
    with pytest.raises(ValueError, match="without gaps"):
        load_migrations(d)
    with pytest.raises(ValueError, match="invalid component"):
        Migrator("Bad-Name", tmp_path)


async def test_up_down_and_idempotence(database_url: str, tmp_path: Path) -> None:
    d = _write(
        tmp_path / "m",
        {
            "0001_create.sql": "CREATE TABLE widgets (id int PRIMARY KEY);",
            "0001_create.down.sql": "DROP TABLE widgets;",
            "0002_column.sql": "ALTER TABLE widgets ADD COLUMN name text;",
            "0002_column.down.sql": "ALTER TABLE widgets DROP COLUMN name;",
            "0003_irreversible.sql": "INSERT INTO widgets VALUES (1, 'x');",
            "notes.txt": "ignored",
        },
    )
    migrator = Migrator("widgets", d)
    conn = await asyncpg.connect(database_url)
    try:
        assert await migrator.up(conn) == [1, 2, 3]
        assert await migrator.up(conn) == []
        assert await migrator.applied(conn) == [1, 2, 3]
        with pytest.raises(ValueError, match="no down file"):
            await migrator.down(conn, steps=1)
        # The failed down rolled back as a whole: still fully applied.
        assert await migrator.applied(conn) == [1, 2, 3]
        await conn.execute("DELETE FROM widgets_schema_migrations WHERE version = 3")
        assert await migrator.down(conn, steps=2) == [2, 1]
        assert await conn.fetchval("SELECT to_regclass('widgets')") is None
    finally:
        await conn.close()


async def test_pool_decodes_jsonb(database_url: str) -> None:
    pool = await create_pool(database_url, max_size=2)
    try:
        value = await pool.fetchval("SELECT $1::jsonb", {"a": [1, 2.5, "x"]})
        assert value == {"a": [1, 2.5, "x"]}
    finally:
        await pool.close()


async def test_pool_release_after_a_clean_use_sends_nothing(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            reset_query = conn.get_reset_query()
            assert "RESET ALL" in reset_query
            conn.add_query_logger(lambda record: sent.append(record.query))
            async with conn.transaction():
                await conn.execute("SELECT 1")
            # Session state outside a transaction survives the release: the contract is that
            # pooled code keeps none (see PooledConnection), which is what makes this safe.
            await conn.execute("SET work_mem = '1234kB'")
        async with pool.acquire() as conn:  # the only connection, again
            assert await conn.fetchval("SHOW work_mem") == "1234kB"
        await asyncio.sleep(0)  # query loggers are called soon, not at once
        assert sent
        assert reset_query not in sent
        assert not any("ROLLBACK" in query for query in sent)
    finally:
        await pool.close()


async def test_pool_release_inside_a_transaction_rolls_back_and_resets(
    database_url: str,
) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            await conn.execute("SET work_mem = '1234kB'")  # session state from before
            transaction = conn.transaction()
            await transaction.start()
            await conn.execute("CREATE TABLE left_open (id int)")
            await conn.execute("SELECT pg_advisory_lock(4242)")  # not undone by a rollback
            # Released with the transaction open: neither committed nor rolled back.
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == backend  # same session
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('left_open')") is None
            assert await conn.fetchval("SHOW work_mem") != "1234kB"
            held = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", backend
            )
            assert held == 0
    finally:
        await pool.close()
