"""Faults against the running stack: executors killed with SIGKILL mid-run, NATS restarted under
load, the scheduler killed while work piles up. Nothing the API accepted may be lost or run twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hardening.stack import (
    Ledger,
    ServiceProcess,
    executor,
    load,
    outbox_pending,
    ready,
    scheduler,
    settle_and_check,
)
from tests.hardening.users import API, User, sign_up
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.nats import EmbeddedNats

pytestmark = [
    pytest.mark.hardening(suite="faults"),
    pytest.mark.slow,
    pytest.mark.long_run,
    pytest.mark.sandbox,
    pytest.mark.timeout(300),
]

SLEEPER = "import time\nprint('start', flush=True)\ntime.sleep(1.5)\nprint('done')"


async def test_executor_killed_while_50_executions_run(
    service_credentials: Credentials,
    client: httpx.AsyncClient,
    nats_url: str,
    tasks_addr: str,
    database_url: str,
    tmp_path: Path,
    processes: Callable[[ServiceProcess], ServiceProcess],
    hardening_counters: Any,
) -> None:
    user = await sign_up(client, "victim")
    processes(scheduler(tmp_path, nats_url, tasks_addr, service_credentials))
    executors = [
        processes(executor(tmp_path, nats_url, service_credentials, slots=4)) for _ in range(3)
    ]
    for service in executors:
        await ready(service, "executor ready")
    ledger = Ledger()
    await asyncio.gather(*(ledger.start(client, user, SLEEPER) for _ in range(50)))
    assert len(ledger.accepted) == 50, ledger.refused

    # Every executor is busy now (12 slots, 50 jobs): kill one while its sandboxes run.
    doomed = executors[0]
    await _until_running(client, user, ledger, at_least=8)
    doomed.kill9()
    await asyncio.sleep(1.0)
    leaked = doomed.survivors()

    await settle_and_check(client, user, ledger, database_url, hardening_counters)

    assert not leaked, f"sandbox processes outlived their executor: {leaked}"
    for execution in ledger.finals.values():
        rerun = execution["status"] == "completed" and execution["stdout"] == "start\ndone\n"
        ended = execution.get("termination_reason") == "sandbox_error" and bool(
            execution.get("termination_detail")
        )
        assert rerun or ended, execution
    # The kill hit running jobs: some ran again (attempt 2) or were ended with a reason.
    assert any(e["attempt"] > 1 or e["status"] != "completed" for e in ledger.finals.values()), (
        ledger.outcomes()
    )


async def _until_running(
    client: httpx.AsyncClient, user: User, ledger: Ledger, *, at_least: int
) -> None:
    async with asyncio.timeout(30):
        while True:
            running = 0
            for execution_id in ledger.accepted:
                resp = await client.get(f"{API}/executions/{execution_id}", headers=user.auth)
                running += resp.json()["status"] == "running"
            if running >= at_least:
                return
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("how", ["stop", "kill"])  # SIGTERM (graceful), SIGKILL (crash)
async def test_nats_restart_under_load_loses_nothing(
    service_credentials: Credentials,
    how: str,
    client: httpx.AsyncClient,
    nats_server: EmbeddedNats,
    nats_url: str,
    tasks_addr: str,
    database_url: str,
    tmp_path: Path,
    processes: Callable[[ServiceProcess], ServiceProcess],
    hardening_counters: Any,
) -> None:
    user = await sign_up(client, "nats")
    processes(scheduler(tmp_path, nats_url, tasks_addr, service_credentials))
    for service in [processes(executor(tmp_path, nats_url, service_credentials)) for _ in range(2)]:
        await ready(service, "executor ready")
    ledger = Ledger()

    async def restart() -> None:
        await asyncio.sleep(2.0)
        await asyncio.to_thread(getattr(nats_server, how))
        await asyncio.sleep(2.0)
        await asyncio.to_thread(nats_server.start)  # same port, same JetStream store

    await asyncio.gather(load(client, user, ledger, seconds=8.0), restart())
    assert len(ledger.accepted) > 20, (ledger.refused, ledger.errors)

    await settle_and_check(client, user, ledger, database_url, hardening_counters)

    assert set(ledger.outcomes()) == {"completed/exit"}, ledger.outcomes()
    assert await outbox_pending(database_url) == 0


async def test_scheduler_killed_the_outbox_drains_when_it_returns(
    service_credentials: Credentials,
    client: httpx.AsyncClient,
    nats_url: str,
    tasks_addr: str,
    database_url: str,
    tmp_path: Path,
    processes: Callable[[ServiceProcess], ServiceProcess],
    hardening_counters: Any,
) -> None:
    user = await sign_up(client, "sched")
    first = processes(scheduler(tmp_path, nats_url, tasks_addr, service_credentials))
    await ready(first, "grpc serving")
    await ready(processes(executor(tmp_path, nats_url, service_credentials)), "executor ready")
    ledger = Ledger()

    async def kill_mid_dispatch() -> None:
        await asyncio.sleep(1.0)
        first.kill9()

    # Starts keep coming while the scheduler dies mid-dispatch and stays away.
    await asyncio.gather(load(client, user, ledger, seconds=5.0, workers=3), kill_mid_dispatch())
    accepted_while_down = len(ledger.accepted)
    assert accepted_while_down > 10, (ledger.refused, ledger.errors)
    processes(scheduler(tmp_path, nats_url, tasks_addr, service_credentials))

    await settle_and_check(client, user, ledger, database_url, hardening_counters)

    assert set(ledger.outcomes()) == {"completed/exit"}, ledger.outcomes()
    assert await outbox_pending(database_url) == 0
