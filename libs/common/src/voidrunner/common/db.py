"""asyncpg pools and named SQL queries loaded from .sql files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# What a database outage looks like to a caller: the connection is refused or cut (OSError,
# InterfaceError, PostgresConnectionError), or the server is shutting down or starting up
# (SQLSTATE class 57, e.g. 57P01 admin_shutdown, 57P03 cannot_connect_now). A transaction
# whose connection was cut under it may also end in asyncpg's InternalClientError ("cannot
# switch to state 15; another operation is in progress"). Such a call may succeed if retried
# later: callers answer UNAVAILABLE or redeliver, never INTERNAL or drop.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InternalClientError,
)

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSONB round-trips as Python objects; we never build JSON by string concatenation.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open a pool whose connections decode JSON/JSONB and time out slow statements."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=30,
        server_settings={"application_name": "voidrunner"},
    )
    if pool is None:  # pragma: no cover - asyncpg returns None only for a closed pool
        msg = "asyncpg returned no pool"
        raise RuntimeError(msg)
    return pool


class Queries:
    """Named queries from a .sql file: blocks introduced by `-- name: <identifier>`."""

    def __init__(self, path: Path) -> None:
        self._sql = parse_queries(path.read_text(encoding="utf-8"))
        self.path = path

    def __getattr__(self, name: str) -> str:
        try:
            return self._sql[name]
        except KeyError:
            msg = f"no query named {name!r} in {self.path}"
            raise AttributeError(msg) from None

    def names(self) -> list[str]:
        """Every query name in the file."""
        return sorted(self._sql)


def parse_queries(text: str) -> dict[str, str]:
    """Split `text` into {name: sql}. Duplicate names are an error."""
    found: dict[str, str] = {}
    matches = list(_NAME.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[m.end() : end].strip()
        if m.group(1) in found:
            msg = f"duplicate query name {m.group(1)!r}"
            raise ValueError(msg)
        found[m.group(1)] = body
    return found


# A connection as handed out by a pool or opened directly; repositories accept either.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
