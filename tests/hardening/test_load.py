"""1,000 concurrent clients for 60 s against a gateway process: no errors but 429, nothing lost.

Each client owns a task and loops: start an execution (a python hello world), then read its
task, the task list, the runtimes and the execution until it is final, then start again. Rate
limits are relaxed (they are the brute-force test's subject); the only error allowed is 429.
Loopback only. VOIDRUNNER_LOAD_CLIENTS / VOIDRUNNER_LOAD_SECONDS shrink it for a quick try.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hardening.stack import (
    FINAL,
    Ledger,
    ServiceProcess,
    executor,
    ready,
    report,
    scheduler,
)
from tests.hardening.users import API, User, create_task, sign_up
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.processes import free_port, wait_for_port
from voidrunner.gateway.settings import rate_limits_at

pytestmark = [
    pytest.mark.hardening(suite="load"),
    pytest.mark.slow,
    pytest.mark.long_run,
    pytest.mark.sandbox,
    pytest.mark.timeout(600),
]

CLIENTS = int(os.environ.get("VOIDRUNNER_LOAD_CLIENTS", "1000"))
SECONDS = float(os.environ.get("VOIDRUNNER_LOAD_SECONDS", "60"))
CLIENTS_PER_USER = 20
# Each client waits this long between its calls: 1,000 clients ask for about 500 calls a second.
THINK_SECONDS = float(os.environ.get("VOIDRUNNER_LOAD_THINK_SECONDS", "2"))
RELAXED = rate_limits_at(10_000_000)


class Tally:
    """Every answer the clients got, by status; transport errors by type."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()

    async def call(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        user: User,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        try:
            resp = await client.request(method, url, headers={**user.auth, **(headers or {})})
        except httpx.TransportError as exc:
            self.errors[type(exc).__name__] += 1
            return None
        self.statuses[resp.status_code] += 1
        return resp


async def _client(
    http: httpx.AsyncClient, user: User, task_id: str, ledger: Ledger, tally: Tally, until: float
) -> None:
    """Start, watch until final (one call per think time), start again; a polite client."""
    reads = (f"{API}/tasks/{task_id}", f"{API}/tasks?limit=5", f"{API}/runtimes")
    await asyncio.sleep(random.uniform(0, THINK_SECONDS))  # clients do not arrive in lockstep
    i = 0
    while time.monotonic() < until:
        # A retried start carries the same Idempotency-Key: it can never start twice.
        key = str(uuid.uuid4())
        execution_id = None
        while execution_id is None and time.monotonic() < until:
            started = await tally.call(
                http, "POST", f"{API}/tasks/{task_id}/executions", user, {"Idempotency-Key": key}
            )
            if started is not None and started.status_code in (200, 201):
                execution_id = started.json()["id"]
                ledger.accepted[execution_id] = task_id
            else:
                await asyncio.sleep(THINK_SECONDS)
        while execution_id is not None and time.monotonic() < until:
            await asyncio.sleep(THINK_SECONDS)
            i += 1
            url = f"{API}/executions/{execution_id}" if i % 2 else reads[i % len(reads)]
            got = await tally.call(http, "GET", url, user)
            watching = url.endswith(execution_id) and got is not None and got.status_code == 200
            if watching and got is not None and got.json()["status"] in FINAL:
                break


def _service(name: str, tmp_path: Path, **settings: object) -> ServiceProcess:
    return ServiceProcess(name, tmp_path, log_level="WARNING", **settings)


async def test_a_thousand_clients_for_a_minute(
    service_credentials: Credentials,
    nats_url: str,
    database_url: str,
    tmp_path: Path,
    processes: Callable[[ServiceProcess], ServiceProcess],
    hardening_counters: Any,
) -> None:
    # Every service in its own process: this one only plays the clients.
    auth_port, tasks_port, port = free_port(), free_port(), free_port()
    auth_addr, tasks_addr = f"127.0.0.1:{auth_port}", f"127.0.0.1:{tasks_port}"
    backends = [
        processes(
            _service(
                "auth",
                tmp_path,
                database_url=service_credentials.database_url(database_url, "auth"),
                nats_url=nats_url,
                auth_grpc_host="127.0.0.1",
                auth_grpc_port=auth_port,
                auth_key_file=tmp_path / "auth" / "key.pem",
                argon2_time_cost=1,
                argon2_memory_kib=1024,
                argon2_parallelism=1,
                **service_credentials.identity("auth"),
            )
        ),
        processes(
            _service(
                "tasks",
                tmp_path,
                database_url=service_credentials.database_url(database_url, "tasks"),
                nats_url=nats_url,
                tasks_grpc_host="127.0.0.1",
                tasks_grpc_port=tasks_port,
                **service_credentials.identity("tasks"),
            )
        ),
    ]
    for grpc_port in (auth_port, tasks_port):
        await asyncio.to_thread(wait_for_port, "127.0.0.1", grpc_port, 30)
    assert all(service.proc is not None and service.proc.poll() is None for service in backends)
    processes(
        _service(
            "gateway",
            tmp_path,
            gateway_host="127.0.0.1",
            gateway_port=port,
            auth_addr=auth_addr,
            tasks_addr=tasks_addr,
            nats_url=nats_url,
            **RELAXED,
            **service_credentials.identity("gateway"),
        )
    )
    processes(scheduler(tmp_path, nats_url, tasks_addr, service_credentials))
    for service in [processes(executor(tmp_path, nats_url, service_credentials)) for _ in range(2)]:
        await ready(service, "executor ready")
    limits = httpx.Limits(max_connections=CLIENTS + 50, max_keepalive_connections=CLIENTS + 50)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
    ) as http:
        async with asyncio.timeout(30):
            while True:
                try:
                    if (await http.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        users = [await sign_up(http, f"load{i}") for i in range(-(-CLIENTS // CLIENTS_PER_USER))]
        owners = [users[i // CLIENTS_PER_USER] for i in range(CLIENTS)]
        tasks = []
        for start in range(0, CLIENTS, 100):  # in batches: set-up is not the test
            batch = owners[start : start + 100]
            tasks += await asyncio.gather(
                *(create_task(http, u, script_content="print('hello')") for u in batch)
            )
        ledger = Ledger()
        tally = Tally()
        began = time.monotonic()
        until = began + SECONDS
        await asyncio.gather(
            *(
                _client(http, owners[i], tasks[i]["id"], ledger, tally, until)
                for i in range(CLIENTS)
            )
        )
        elapsed = time.monotonic() - began
        owner_of = {t["id"]: owners[i] for i, t in enumerate(tasks)}
        lost: list[str] = []
        for user in users:
            mine = Ledger(
                accepted={e: t for e, t in ledger.accepted.items() if owner_of[t] is user}
            )
            missing, _ = await mine.settle(http, user, deadline=time.monotonic() + 120)
            lost += missing
            ledger.finals.update(mine.finals)

    requests = sum(tally.statuses.values()) + sum(tally.errors.values())
    print(  # shown with -s: what the minute looked like
        f"{CLIENTS} clients, {elapsed:.0f} s: {requests} requests "
        f"({requests / elapsed:.0f}/s), statuses={dict(tally.statuses)}, "
        f"errors={dict(tally.errors)}, executions={len(ledger.accepted)}, lost={len(lost)}"
    )
    report(hardening_counters, ledger, lost, [])
    hardening_counters.add_5xx(sum(n for s, n in tally.statuses.items() if s >= 500))
    unexpected = {s: n for s, n in tally.statuses.items() if s >= 400 and s != 429}
    assert not tally.errors, tally.errors
    assert not unexpected, unexpected
    assert not lost, f"lost: {lost}"
    assert len(ledger.accepted) >= CLIENTS // 2, "the load never really ran"
