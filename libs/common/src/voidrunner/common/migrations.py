"""A forward-only migration runner for numbered .sql files, with optional down files.

Files: `NNNN_description.sql` (up) and, optionally, `NNNN_description.down.sql`. Each component
(service) records what it applied in its own `<component>_schema_migrations` table, under an
advisory lock so that replicas starting together apply each migration once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from voidrunner.common.logs import get_logger

_log = get_logger("voidrunner.migrations")
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_COMPONENT = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_CREATES_TABLE = re.compile(r"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)", re.I)
_CREATES_EXTENSION = re.compile(
    r"\bCREATE\s+EXTENSION\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)", re.I
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    up: str
    down: str | None


def load_migrations(directory: Path) -> list[Migration]:
    """Read the migrations in `directory`, ordered, refusing gaps and duplicate numbers."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _FILE.match(path.name)
        if m is None:
            continue
        down_path = path.with_name(f"{path.stem}.down.sql")
        found.append(
            Migration(
                version=int(m.group(1)),
                name=m.group(2),
                up=path.read_text(encoding="utf-8"),
                down=down_path.read_text(encoding="utf-8") if down_path.exists() else None,
            )
        )
    for expected, mig in enumerate(found, start=1):
        if mig.version != expected:
            msg = f"migrations in {directory} must be numbered from 0001 without gaps"
            raise ValueError(msg)
    return found


class Migrator:
    """Applies and reverts one component's migrations."""

    def __init__(self, component: str, directory: Path) -> None:
        if not _COMPONENT.match(component):
            msg = f"invalid component name {component!r}"
            raise ValueError(msg)
        self.component = component
        self.migrations = load_migrations(directory)
        # Safe to interpolate: the component matched _COMPONENT above.
        self._table = f"{component}_schema_migrations"

    @property
    def tables(self) -> list[str]:
        """The tables this component's migrations create, its bookkeeping table first."""
        found = [self._table]
        for mig in self.migrations:
            found += [t.lower() for t in _CREATES_TABLE.findall(mig.up) if t.lower() not in found]
        return found

    @property
    def extensions(self) -> list[str]:
        """The extensions its migrations create (an administrator creates them beforehand)."""
        return sorted(
            {e.lower() for mig in self.migrations for e in _CREATES_EXTENSION.findall(mig.up)}
        )

    async def _prepare(self, conn: asyncpg.Connection) -> set[int]:
        await conn.execute(f"SELECT pg_advisory_xact_lock(hashtext('migrate:{self.component}'))")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch(f"SELECT version FROM {self._table}")  # nosec B608  # noqa: S608 - the table name matched _COMPONENT
        return {r["version"] for r in rows}

    async def up(self, conn: asyncpg.Connection) -> list[int]:
        """Apply every pending migration, each in the same transaction as its bookkeeping."""
        applied_now: list[int] = []
        async with conn.transaction():
            applied = await self._prepare(conn)
            for mig in self.migrations:
                if mig.version in applied:
                    continue
                await conn.execute(mig.up)
                await conn.execute(
                    f"INSERT INTO {self._table} (version, name) VALUES ($1, $2)",  # nosec B608  # noqa: S608 - the table name matched _COMPONENT
                    mig.version,
                    mig.name,
                )
                applied_now.append(mig.version)
                _log.info(
                    "migration applied",
                    component=self.component,
                    version=mig.version,
                    name=mig.name,
                )
        return applied_now

    async def down(self, conn: asyncpg.Connection, steps: int = 1) -> list[int]:
        """Revert the newest `steps` applied migrations; refuses one without a down file."""
        reverted: list[int] = []
        async with conn.transaction():
            applied = await self._prepare(conn)
            for mig in sorted(self.migrations, key=lambda m: m.version, reverse=True):
                if len(reverted) >= steps:
                    break
                if mig.version not in applied:
                    continue
                if mig.down is None:
                    msg = f"{self.component} migration {mig.version:04d} has no down file"
                    raise ValueError(msg)
                await conn.execute(mig.down)
                await conn.execute(
                    f"DELETE FROM {self._table} WHERE version = $1",  # nosec B608  # noqa: S608 - the table name matched _COMPONENT
                    mig.version,
                )
                reverted.append(mig.version)
                _log.info("migration reverted", component=self.component, version=mig.version)
        return reverted

    async def applied(self, conn: asyncpg.Connection) -> list[int]:
        """Versions applied so far."""
        async with conn.transaction():
            return sorted(await self._prepare(conn))
