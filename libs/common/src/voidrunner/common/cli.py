"""The command line every service process shares: `serve` (default) or `migrate up|down`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import asyncpg

from voidrunner.common.database_roles import provision, role_of
from voidrunner.common.lifecycle import run_service, wait_for_stop_signal
from voidrunner.common.logs import configure_logging, get_logger
from voidrunner.common.migrations import Migrator
from voidrunner.common.settings import BaseServiceSettings

S = TypeVar("S", bound=BaseServiceSettings)
_log = get_logger("voidrunner.cli")


class Startable(Protocol):
    async def start(self) -> int: ...

    async def stop(self) -> None: ...


async def serve(app: Startable) -> None:
    """Start `app`, wait for SIGTERM/SIGINT, stop it gracefully."""
    port = await app.start()
    _log.info("service started", port=port)
    try:
        await wait_for_stop_signal()
    finally:
        await app.stop()
        _log.info("service stopped")


async def migrate(dsn: str, migrator: Migrator, direction: str, steps: int) -> list[int]:
    """Apply (`up`) or revert (`down`, `steps` newest) migrations on `dsn`."""
    conn = await asyncpg.connect(dsn)
    try:
        if direction == "up":
            return await migrator.up(conn)
        return await migrator.down(conn, steps)
    finally:
        await conn.close()


async def provision_role(admin_dsn: str, dsn: str, migrator: Migrator) -> None:
    """Create the role `dsn` connects as, owning `migrator`'s tables (database_roles)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await provision(conn, role_of(dsn), tables=migrator.tables, extensions=migrator.extensions)
    finally:
        await conn.close()


def serve_or_migrate(
    argv: list[str],
    *,
    settings_type: type[S],
    build: Callable[[S], object],
    component: str | None = None,
    migrations_dir: Path | None = None,
    uvloop: bool = True,
) -> None:
    """Parse `argv`, configure logging from settings, then serve or migrate.

    `uvloop=False` serves on asyncio's own loop (see the executor for why)."""
    parser = argparse.ArgumentParser(prog=f"voidrunner-{component or 'service'}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the service (default)")
    if component is not None:
        mig = sub.add_parser("migrate", help="apply or revert database migrations")
        mig.add_argument("direction", choices=["up", "down"])
        mig.add_argument("--steps", type=int, default=1)
    args = parser.parse_args(argv)
    settings = settings_type()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    if args.command == "migrate" and component is not None and migrations_dir is not None:
        dsn = getattr(settings, "database_url").get_secret_value()  # noqa: B009
        migrator = Migrator(component, migrations_dir)
        admin = getattr(settings, "database_admin_url", None)
        if args.direction == "up" and admin is not None and admin.get_secret_value():
            asyncio.run(provision_role(admin.get_secret_value(), dsn, migrator))
        done = asyncio.run(migrate(dsn, migrator, args.direction, args.steps))
        _log.info("migrations done", component=component, direction=args.direction, versions=done)
        return
    app = build(settings)
    run_service(lambda: serve(app), uvloop=uvloop)  # type: ignore[arg-type]
