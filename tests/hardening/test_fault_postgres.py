"""PostgreSQL restarted under load: the services recover by themselves within 10 s, and every
execution the API accepted (201) still reaches its final state exactly once.

The test runs its own PostgreSQL (not the session's shared one) and overrides `database_url`,
so the in-process auth and tasks services of the stack fixtures use it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.hardening.stack import (
    Ledger,
    ServiceProcess,
    executor,
    load,
    ready,
    scheduler,
    settle_and_check,
)
from tests.hardening.users import API, PASSWORD, User, sign_up
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.postgres import EmbeddedPostgres, PostgresConfig
from voidrunner.devstack.pytest_plugin import migrate_as_roles

pytestmark = [
    pytest.mark.hardening(suite="faults"),
    pytest.mark.slow,
    pytest.mark.long_run,
    pytest.mark.sandbox,
    pytest.mark.timeout(300),
]

RECOVERY_SECONDS = 10.0
# pg_ctl runs from a separate, thread-free Python: as root it is started with a user switch,
# which rules out vfork, and a plain fork() of this busy gRPC process may crash the child in
# gRPC's fork handlers before it execs (seen as pg_ctl "dying" with SIGSEGV).
_CONTROL = (
    "import sys; from pathlib import Path; "
    "from voidrunner.devstack.postgres import EmbeddedPostgres, PostgresConfig; "
    "pg = EmbeddedPostgres(PostgresConfig(Path(sys.argv[1]), port=int(sys.argv[2]), fast=True)); "
    "getattr(pg, sys.argv[3])()"
)


def _control(server: EmbeddedPostgres, action: str) -> None:
    """`server.start()` or `server.stop()`, from a clean process."""
    args = [str(server.config.data_dir), str(server.port), action]
    done = subprocess.run([sys.executable, "-c", _CONTROL, *args], capture_output=True, check=False)
    if done.returncode != 0:
        log = (server.config.data_dir / "postgres.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"pg {action} failed: {done.stderr.decode()[-2000:]}\n{log}")


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    # No fallback poll within the test: after the restart, work must go out on its NOTIFY.
    return {"outbox_poll_seconds": 300.0}


@pytest.fixture
def own_pg() -> Iterator[EmbeddedPostgres]:
    # Not under pytest's 0700 tmp dirs: as root the server runs as nobody and must reach it.
    data_dir = Path(tempfile.mkdtemp(prefix="voidrunner-fault-pg-"))
    server = EmbeddedPostgres(PostgresConfig(data_dir, fast=True))
    try:
        _control(server, "start")
        yield server
    finally:
        _control(server, "stop")
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def database_url(own_pg: EmbeddedPostgres, service_credentials: Credentials) -> str:
    """This module's services use the dedicated server, migrated from zero (as their roles)."""
    admin = await asyncpg.connect(own_pg.dsn)
    try:
        await admin.execute("CREATE DATABASE voidrunner")
    finally:
        await admin.close()
    await migrate_as_roles(own_pg.dsn_for("voidrunner"), service_credentials)
    return own_pg.dsn_for("voidrunner")


async def _recovered(client: httpx.AsyncClient, user: User) -> None:
    """Login (auth's database) and a task create + start (tasks' database) both work."""
    login = await client.post(f"{API}/auth/login", json={"email": user.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    probe = Ledger()
    await probe.start(client, user)
    assert probe.accepted, (probe.refused, probe.errors)


async def test_postgres_restart_under_load(
    service_credentials: Credentials,
    client: httpx.AsyncClient,
    own_pg: EmbeddedPostgres,
    nats_url: str,
    tasks_addr: str,
    database_url: str,
    tmp_path: Path,
    processes: Callable[[ServiceProcess], ServiceProcess],
    hardening_counters: Any,
) -> None:
    user = await sign_up(client, "pg")
    processes(scheduler(tmp_path, nats_url, tasks_addr, service_credentials))
    for service in [processes(executor(tmp_path, nats_url, service_credentials)) for _ in range(2)]:
        await ready(service, "executor ready")
    ledger = Ledger()
    recovery: list[float] = []
    outage: list[float] = []

    async def restart() -> None:
        await asyncio.sleep(2.0)
        down = time.monotonic()
        await asyncio.to_thread(_control, own_pg, "stop")  # fast shutdown: connections cut
        await asyncio.sleep(2.0)
        await asyncio.to_thread(_control, own_pg, "start")  # same port, same data directory
        back = time.monotonic()
        async with asyncio.timeout(60):
            while True:
                try:
                    await _recovered(client, user)
                    break
                except (AssertionError, httpx.TransportError):
                    await asyncio.sleep(0.1)
        recovery.append(time.monotonic() - back)
        outage.append(time.monotonic() - down)

    await asyncio.gather(load(client, user, ledger, seconds=10.0), restart())
    assert len(ledger.accepted) > 20, (ledger.refused, ledger.errors)

    await settle_and_check(
        client, user, ledger, database_url, hardening_counters, seconds=60, outage=outage[0]
    )

    print(
        f"database away {outage[0]:.1f} s; services recovered {recovery[0]:.2f} s after it was back"
    )
    assert recovery[0] <= RECOVERY_SECONDS, f"recovered after {recovery[0]:.1f} s"
    assert set(ledger.outcomes()) == {"completed/exit"}, ledger.outcomes()
    # Work started after the restart is relayed on its NOTIFY, not at the next poll.
    after = Ledger()
    await after.start(client, user)
    late, _ = await after.settle(client, user, deadline=time.monotonic() + RECOVERY_SECONDS)
    if late:  # DEBUG
        for t in asyncio.all_tasks():
            if "relay" in t.get_name():
                t.print_stack(limit=30)
    assert not late, "the outbox relay no longer hears NOTIFY after the restart"
    # While the database was away, the API said so (503) rather than failing (500).
    assert 500 not in ledger.refused, ledger.refused
