"""asyncpg pools and named SQL queries loaded from .sql files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeAlias

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


class PooledConnection(asyncpg.Connection):
    """A pool connection whose release costs no round trip unless a transaction was left open.

    On release asyncpg rolls back an open transaction, drops the Python-side listeners, then
    runs `get_reset_query()`: `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` — one more round trip on every release, ≈ 6% of the tasks service's CPU on a
    read. That query only undoes session state, and our pooled connections keep none. Audit
    (every use of a pool in services/*/src and libs/*/src: the auth and tasks services; the
    scheduler and executor open no database connection):
    - no session SET or set_config(): session settings come from the DSN and `server_settings`
      at connect time (plan_cache_mode, application_name), which RESET ALL would not undo anyway;
      transactions are `conn.transaction(...)`, whose isolation and read-only mode end with them;
    - no LISTEN or add_listener(): the outbox relay listens on a connection of its own
      (asyncpg.connect in tasks/relay.py), never a pooled one; pg_notify only sends;
    - no advisory lock: the migrator's is pg_advisory_xact_lock (released at commit), taken on
      the migrate command's own connection (common/cli.py), as are all migrations;
    - no DECLARE, conn.cursor() or temporary table; no prepare(): asyncpg's own statement cache
      is kept across releases whatever the reset does.
    So the reset query runs only when a transaction was open at release (a path that gave up
    mid-transaction: its state cannot be trusted); otherwise it is skipped. A future pooled use
    that sets session state (SET outside a transaction, LISTEN, pg_advisory_lock, WITH HOLD
    cursors) must do it on a connection of its own instead, as the relay does.

    `reset()` and `get_reset_query()` are the extension points asyncpg documents for this; the
    pool's `reset=` hook would not do, as asyncpg rolls the transaction back before calling it.
    """

    __slots__ = ("_reset_query_needed",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reset_query_needed = True

    # The signature is asyncpg's (hence its `timeout` argument).
    async def reset(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """What the pool calls on release: the full reset only after an open transaction."""
        self._reset_query_needed = self.is_in_transaction()
        try:
            await super().reset(timeout=timeout)  # rolls back, then runs get_reset_query()
        finally:
            self._reset_query_needed = True

    def get_reset_query(self) -> str:
        return super().get_reset_query() if self._reset_query_needed else ""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open a pool whose connections decode JSON/JSONB and time out slow statements."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        connection_class=PooledConnection,
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
