"""Each service that owns tables connects as its own PostgreSQL role, owning only its tables.

A role owns what its migrations create; PostgreSQL grants other roles nothing on a table they do
not own, so the tasks service cannot read password hashes and auth cannot read code. An
administrator's connection provisions the role once (`migrate up` does when
VOIDRUNNER_DATABASE_ADMIN_URL is set): login with the password of the service's own URL, no
other right than connecting and creating in the public schema, and ownership of its tables from
a stack that predates roles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

import asyncpg

from voidrunner.common.logs import get_logger

__all__ = ["RoleCredentials", "provision", "role_of"]

_log = get_logger("voidrunner.database_roles")
_ROLE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class RoleCredentials:
    """The role and password a database URL names."""

    def __init__(self, name: str, password: str) -> None:
        if not _ROLE.match(name):
            msg = f"database role {name!r} must match {_ROLE.pattern}"
            raise ValueError(msg)
        if not password:
            msg = f"the URL of database role {name} carries no password"
            raise ValueError(msg)
        self.name = name
        self.password = password


def role_of(database_url: str) -> RoleCredentials:
    """The role a service's URL connects as."""
    parts = urlsplit(database_url)
    return RoleCredentials(unquote(parts.username or ""), unquote(parts.password or ""))


async def provision(
    admin: asyncpg.Connection,
    role: RoleCredentials,
    *,
    tables: Iterable[str],
    extensions: Iterable[str] = (),
) -> None:
    """Create or update `role` and hand it the `tables` that already exist (idempotent).

    `extensions` are created by the administrator: the role may not."""
    # DDL takes no parameters: format() quotes the identifier and the password literal.
    exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role.name)
    if not exists:
        await admin.execute(
            await admin.fetchval("SELECT format('CREATE ROLE %I', $1::text)", role.name)
        )
    alter = await admin.fetchval(
        "SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
        "NOREPLICATION NOBYPASSRLS PASSWORD %L', $1::text, $2::text)",
        role.name,
        role.password,
    )
    await admin.execute(alter)
    for grant in (
        "SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), $1::text)",
        "SELECT format('GRANT USAGE, CREATE ON SCHEMA public TO %I', $1::text)",
    ):
        await admin.execute(await admin.fetchval(grant, role.name))
    for extension in extensions:
        await admin.execute(
            await admin.fetchval(
                "SELECT format('CREATE EXTENSION IF NOT EXISTS %I', $1::text)", extension
            )
        )
    adopted = []
    for table in tables:
        owner = await admin.fetchval(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass($1)",
            f"public.{table}",
        )
        if owner is not None and owner != role.name:
            await admin.execute(
                await admin.fetchval(
                    "SELECT format('ALTER TABLE public.%I OWNER TO %I', $1::text, $2::text)",
                    table,
                    role.name,
                )
            )
            adopted.append(table)
    _log.info("database role provisioned", role=role.name, adopted=adopted)
