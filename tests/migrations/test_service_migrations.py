"""Every service's migrations build its schema from zero, revert cleanly, and build it again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from voidrunner.devstack.postgres import EmbeddedPostgres
from voidrunner.devstack.pytest_plugin import migrators


@pytest.fixture
async def empty_db(pg_server: EmbeddedPostgres) -> AsyncIterator[asyncpg.Connection]:
    name = f"m_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.dsn)
    await admin.execute(f"CREATE DATABASE {name}")
    conn = await asyncpg.connect(pg_server.dsn_for(name))
    try:
        yield conn
    finally:
        await conn.close()
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


async def test_migrations_up_down_up(empty_db: asyncpg.Connection) -> None:
    found = [m for _, m in migrators()]
    assert {m.component for m in found} == {"auth", "tasks"}
    for migrator in found:
        versions = [m.version for m in migrator.migrations]
        assert await migrator.up(empty_db) == versions
    built = await _tables(empty_db)
    assert {"users", "auth_sessions", "refresh_tokens", "tasks", "executions"} <= built
    for migrator in reversed(found):
        count = len(migrator.migrations)
        assert await migrator.down(empty_db, steps=count) == list(range(count, 0, -1))
    assert await _tables(empty_db) <= {"auth_schema_migrations", "tasks_schema_migrations"}
    for migrator in found:
        await migrator.up(empty_db)
    assert await _tables(empty_db) == built
