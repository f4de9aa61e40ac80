"""The test databases made ahead (pytest_plugin.DatabaseSupply): each handed out once, migrated,
dropped when given back; a supply that cannot clone fails its takers at once."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from voidrunner.devstack.postgres import EmbeddedPostgres
from voidrunner.devstack.pytest_plugin import DatabaseSupply


async def _databases(server: EmbeddedPostgres) -> set[str]:
    admin = await asyncpg.connect(server.dsn)
    try:
        return {r["datname"] for r in await admin.fetch("SELECT datname FROM pg_database")}
    finally:
        await admin.close()


async def test_clones_are_distinct_migrated_and_dropped_once_given_back(
    pg_server: EmbeddedPostgres, pg_template: str
) -> None:
    supply = DatabaseSupply(pg_server, pg_template, ahead=1)
    try:
        first, second = supply.take(), supply.take()
        assert first != second
        conn = await asyncpg.connect(pg_server.dsn_for(first))
        try:
            assert await conn.fetchval("SELECT to_regclass('tasks') IS NOT NULL")
        finally:
            await conn.close()
        supply.give_back(first)
        deadline = time.monotonic() + 10
        while first in await _databases(pg_server):
            assert time.monotonic() < deadline, f"{first} was not dropped"
            await asyncio.sleep(0.05)
        assert second in await _databases(pg_server)
    finally:
        supply.close()


def test_a_supply_that_cannot_clone_fails_its_takers_at_once(pg_server: EmbeddedPostgres) -> None:
    supply = DatabaseSupply(pg_server, "no_such_template")
    try:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="cloning the template database failed"):
            supply.take(timeout=30)
        assert time.monotonic() - started < 10
    finally:
        supply.close()
