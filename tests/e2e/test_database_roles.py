"""Each table-owning service connects as its own PostgreSQL role with rights on its own tables
only: the tasks service cannot read password hashes, auth cannot read code."""

from __future__ import annotations

import asyncpg
import pytest

from voidrunner.common.cli import provision_role
from voidrunner.common.migrations import Migrator
from voidrunner.devstack.credentials import Credentials


async def _refused(url: str, query: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
            await conn.fetch(query)
        return str(refused.value)
    finally:
        await conn.close()


async def test_each_role_reads_its_own_tables_and_nothing_else(
    database_url: str, service_credentials: Credentials
) -> None:
    tasks = service_credentials.database_url(database_url, "tasks")
    auth = service_credentials.database_url(database_url, "auth")
    for url, own in ((tasks, "executions"), (auth, "users")):
        conn = await asyncpg.connect(url)
        try:
            await conn.fetch(f"SELECT * FROM {own} LIMIT 1")  # noqa: S608 - fixed names
        finally:
            await conn.close()
    assert "permission denied for table users" in await _refused(tasks, "SELECT * FROM users")
    assert "refresh_tokens" in await _refused(tasks, "DELETE FROM refresh_tokens")
    assert "tasks" in await _refused(auth, "SELECT script_content FROM tasks")
    assert "auth_schema_migrations" in await _refused(tasks, "DROP TABLE auth_schema_migrations")
    # Neither may make roles or databases.
    assert "permission denied" in await _refused(tasks, "CREATE ROLE intruder")


async def test_provisioning_adopts_the_tables_of_a_stack_from_before_roles(
    database_url: str, service_credentials: Credentials
) -> None:
    admin = await asyncpg.connect(database_url)
    try:
        # As an older stack left it: the table owned by the administrator.
        await admin.execute("ALTER TABLE users OWNER TO CURRENT_USER")
        from voidrunner.auth.schema import COMPONENT, MIGRATIONS_DIR

        auth = service_credentials.database_url(database_url, "auth")
        await _refused(auth, "SELECT * FROM users")
        await provision_role(database_url, auth, Migrator(COMPONENT, MIGRATIONS_DIR))
        owner = await admin.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'users'")
        assert owner == "voidrunner_auth"
    finally:
        await admin.close()
