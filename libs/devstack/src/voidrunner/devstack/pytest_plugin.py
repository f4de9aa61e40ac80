"""pytest fixtures for real infrastructure: embedded PostgreSQL and NATS, fresh per test.

PostgreSQL starts once per session; every service's migrations build a template database once,
and each test gets its own database cloned from it. A clone costs ≈ 250 ms on PostgreSQL 18
(WAL_LOG copies every page through the WAL; FILE_COPY waits for two checkpoints, ≈ 200 ms), so
a background thread clones a few ahead of the tests that take them (`DatabaseSupply`), while
the tests mostly wait on sockets and sandboxes. NATS is cheap enough (≈ 40 ms) to
start fresh for every test that asks for it, so streams and buckets never leak between tests;
`nats_later` gives a test a server it starts (and stops, and starts again) itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from voidrunner.common.cli import provision_role
from voidrunner.common.migrations import Migrator
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.nats import EmbeddedNats, NatsConfig
from voidrunner.devstack.nats_config import render
from voidrunner.devstack.postgres import EmbeddedPostgres, PostgresConfig

TEMPLATE = "voidrunner_template"
# The sandbox uids of one test session's executors, apart from another session's (`make test`
# runs two, pytest-xdist workers): uid leases are host-wide locks, so sessions sharing a range
# took turns and a long run in one held up the other's.
WORKER_UID_STRIDE = 0x1000
# Services that own tables expose `voidrunner.<svc>.schema` with COMPONENT and MIGRATIONS_DIR.
SCHEMA_MODULES = ("voidrunner.auth.schema", "voidrunner.tasks.schema")


def worker_index() -> int:
    """This pytest-xdist worker's number (gw3 → 3); 0 in a session without workers."""
    number = os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")
    return int(number) if number.isdigit() else 0


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, give this worker's executors uids of their own (see
    WORKER_UID_STRIDE) unless the environment chose a base already."""
    if not (index := worker_index()):
        return
    try:
        from voidrunner.executor.sandbox.uid_range import DEFAULT_UID_BASE
    except ModuleNotFoundError:  # no executor here, so no sandboxes
        return
    base = DEFAULT_UID_BASE + index * WORKER_UID_STRIDE
    os.environ.setdefault("VOIDRUNNER_SANDBOX_UID_BASE", str(base))


def migrators() -> list[tuple[str, Migrator]]:
    """(service, its migrator) for every service that owns tables and is installed."""
    found = []
    for name in SCHEMA_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        found.append((name.split(".")[1], Migrator(module.COMPONENT, Path(module.MIGRATIONS_DIR))))
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
async def pg_template(pg_server: EmbeddedPostgres, service_credentials: Credentials) -> str:
    """The name of a database with every service's migrations applied, each as its own role
    (so the services under test connect as they do in production)."""
    admin = await asyncpg.connect(pg_server.dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    await migrate_as_roles(pg_server.dsn_for(TEMPLATE), service_credentials)
    return TEMPLATE


async def migrate_as_roles(admin_url: str, creds: Credentials) -> None:
    """Provision every table-owning service's role on `admin_url`'s database and apply its
    migrations as that role, as `migrate up` with an admin URL does."""
    for service, migrator in migrators():
        own_url = creds.database_url(admin_url, service)
        await provision_role(admin_url, own_url, migrator)
        conn = await asyncpg.connect(own_url)
        try:
            await migrator.up(conn)
        finally:
            await conn.close()


class DatabaseSupply:
    """Clones of `template`, made ahead by a thread of its own; each is handed out once.

    The thread keeps `ahead` clones ready and drops the databases given back. Names are fresh
    uuids, so a clone is never handed out twice and a test never sees another's rows. If cloning
    fails, every test that asks for a database from then on fails with that error.
    """

    def __init__(self, server: EmbeddedPostgres, template: str, ahead: int = 2) -> None:
        self._server = server
        self._template = template
        self._ready: queue.Queue[str] = queue.Queue(maxsize=ahead)
        self._dropping: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="database-supply", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            asyncio.run(self._supply())
        except BaseException as exc:  # kept for the tests that ask next
            self._failure = exc

    async def _supply(self) -> None:
        admin = await asyncpg.connect(self._server.dsn)
        try:
            while not self._stop.is_set():
                await self._drop_given_back(admin)
                name = await self._clone(admin)
                while not self._stop.is_set():
                    try:
                        self._ready.put(name, timeout=0.05)
                        break
                    except queue.Full:
                        await self._drop_given_back(admin)
        finally:
            await admin.close()

    async def _clone(self, admin: asyncpg.Connection) -> str:
        """A new clone's name. A failed clone is tried again twice: each test used to clone its
        own database, so one failure cost one test, where here it would cost all the rest."""
        for _ in range(2):
            with contextlib.suppress(asyncpg.PostgresError):
                return await self._create(admin)
            await asyncio.sleep(0.5)
        return await self._create(admin)

    async def _create(self, admin: asyncpg.Connection) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {self._template}")
        return name

    async def _drop_given_back(self, admin: asyncpg.Connection) -> None:
        while True:
            try:
                name = self._dropping.get_nowait()
            except queue.Empty:
                return
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def take(self, timeout: float = 120.0) -> str:
        """A clone of the template no one else has; blocks until one is ready."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._ready.get(timeout=0.05)
            except queue.Empty:
                if self._failure is not None:
                    msg = "cloning the template database failed"
                    raise RuntimeError(msg) from self._failure
                if time.monotonic() > deadline:
                    msg = f"no template clone within {timeout} s"
                    raise TimeoutError(msg) from None

    def give_back(self, name: str) -> None:
        """The test is done with `name`: the thread drops it."""
        self._dropping.put(name)

    @asynccontextmanager
    async def database(self) -> AsyncIterator[str]:
        """The URL of a clone of its own (taken without blocking the event loop), given back
        on the way out."""
        name = await asyncio.to_thread(self.take)
        try:
            yield self._server.dsn_for(name)
        finally:
            self.give_back(name)

    def close(self) -> None:
        """Stop cloning; the clones not handed out go with the server's data directory."""
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture(scope="session")
def database_supply(pg_server: EmbeddedPostgres, pg_template: str) -> Iterator[DatabaseSupply]:
    """Template clones made ahead of the tests (see DatabaseSupply)."""
    supply = DatabaseSupply(pg_server, pg_template)
    try:
        yield supply
    finally:
        supply.close()


@pytest.fixture
async def database_url(database_supply: DatabaseSupply) -> AsyncIterator[str]:
    """A fresh, migrated database for this test; dropped afterwards."""
    async with database_supply.database() as url:
        yield url


@pytest.fixture(scope="session")
def service_credentials() -> Iterator[Credentials]:
    """Every service's credentials (gRPC signing keys, NATS users), made once per session."""
    root = Path(tempfile.mkdtemp(prefix="voidrunner-test-creds-"))
    try:
        yield Credentials.ensure(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_config_text(service_credentials: Credentials) -> str:
    """The test servers' configuration: each service's NATS user with its real permissions,
    plus an open user with every right for test code that connects without credentials."""
    return render(service_credentials, open_user=True)


def permission_violations(server: EmbeddedNats) -> list[str]:
    """The server's log lines about refused publishes and subscriptions so far."""
    log = server.config.data_dir / "nats.log"
    if not log.exists():
        return []
    return [line for line in log.read_text(errors="replace").splitlines() if "Violation" in line]


def fail_on_refusals(server: EmbeddedNats) -> None:
    """Fail when `server` refused any client a publish or subscription: a service refused
    something it does is a permission missing from nats_access (or code doing what its service
    should not). Names the subjects."""
    violations = permission_violations(server)
    if violations:
        pytest.fail("NATS refused a service:\n" + "\n".join(violations[:20]), pytrace=False)


def _check_permissions(request: pytest.FixtureRequest, server: EmbeddedNats) -> None:
    if request.node.get_closest_marker("nats_refusals") is None:
        fail_on_refusals(server)


@pytest.fixture
def nats_server(
    request: pytest.FixtureRequest, tmp_path: Path, nats_config_text: str
) -> Iterator[EmbeddedNats]:
    """A fresh nats-server with JetStream for this test. The test fails when the server
    refused any client a publish or subscription (mark it `nats_refusals` to expect some)."""
    server = EmbeddedNats(NatsConfig(tmp_path / "nats", config_text=nats_config_text))
    server.start()
    try:
        yield server
    finally:
        server.stop()
    _check_permissions(request, server)


@pytest.fixture
def nats_url(nats_server: EmbeddedNats) -> str:
    """The URL of this test's fresh NATS server."""
    return nats_server.url


@pytest.fixture
def nats_later(
    request: pytest.FixtureRequest, tmp_path: Path, nats_config_text: str
) -> Iterator[EmbeddedNats]:
    """A nats-server for this test that is not running yet: its URL is known, and the test
    starts it (and may stop and start it again, same port and data) with `.start()`/`.stop()`."""
    server = EmbeddedNats(NatsConfig(tmp_path / "nats-later", config_text=nats_config_text))
    try:
        yield server
    finally:
        server.stop()
    _check_permissions(request, server)
