"""pytest fixtures for real infrastructure: embedded PostgreSQL and NATS, fresh per test.

PostgreSQL starts once per session; every service's migrations build a template database once,
and each test gets its own database cloned from it (≈ 20 ms). NATS is cheap enough (≈ 40 ms) to
start fresh for every test that asks for it, so streams and buckets never leak between tests.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from voidrunner.common.migrations import Migrator
from voidrunner.devstack.nats import EmbeddedNats, NatsConfig
from voidrunner.devstack.postgres import EmbeddedPostgres, PostgresConfig

TEMPLATE = "voidrunner_template"
# Services that own tables expose `voidrunner.<svc>.schema` with COMPONENT and MIGRATIONS_DIR.
SCHEMA_MODULES = ("voidrunner.auth.schema", "voidrunner.tasks.schema")


def migrators() -> list[Migrator]:
    """A migrator for every service that owns tables and is installed."""
    found = []
    for name in SCHEMA_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        found.append(Migrator(module.COMPONENT, Path(module.MIGRATIONS_DIR)))
    return found


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    """One PostgreSQL server for the whole test session."""
    # Not under pytest's 0700 tmp dirs: as root the server runs as nobody and must reach it.
    data_dir = Path(tempfile.mkdtemp(prefix="voidrunner-test-pg-"))
    server = EmbeddedPostgres(PostgresConfig(data_dir, fast=True))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def pg_template(pg_server: EmbeddedPostgres) -> str:
    """The name of a database with every service's migrations applied."""
    admin = await asyncpg.connect(pg_server.dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    conn = await asyncpg.connect(pg_server.dsn_for(TEMPLATE))
    try:
        for migrator in migrators():
            await migrator.up(conn)
    finally:
        await conn.close()
    return TEMPLATE


@pytest.fixture
async def database_url(pg_server: EmbeddedPostgres, pg_template: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(pg_server.dsn)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    finally:
        await admin.close()
    yield pg_server.dsn_for(name)
    admin = await asyncpg.connect(pg_server.dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A fresh nats-server with JetStream for this test."""
    server = EmbeddedNats(NatsConfig(tmp_path / "nats"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(nats_server: EmbeddedNats) -> str:
    """The URL of this test's fresh NATS server."""
    return nats_server.url
