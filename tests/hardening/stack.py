"""What the fault and load suites share: service processes, a load generator and a ledger.

The gateway, auth and tasks services run in-process (the `gateway_url` fixture chain); the
scheduler and the executors run as real processes here, because killing one is the point.

The ledger holds every execution the API accepted (201) and settles them afterwards:

    lost     accepted, but never reached a final state by the deadline, or vanished (404)
    doubled  two executions for one start, or a final state that changed after it was reached
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.hardening.users import API, User
from voidrunner.devstack.credentials import Credentials
from voidrunner.devstack.processes import free_port, pid_alive, terminate

FINAL = frozenset({"completed", "failed", "timeout", "cancelled"})
QUICK = "print('ok')"


def _service_env(**values: object) -> dict[str, str]:
    env = {**os.environ, "VOIDRUNNER_ENVIRONMENT": "test", "VOIDRUNNER_LOG_FORMAT": "json"}
    env.update({f"VOIDRUNNER_{k.upper()}": str(v) for k, v in values.items()})
    return env


class ServiceProcess:
    """`python -m voidrunner.<name>` in its own session, logging to a file."""

    def __init__(self, name: str, log_dir: Path, **settings: object) -> None:
        self.name = name
        self.settings = settings
        self.log = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"voidrunner.{self.name}"],
                env=_service_env(**self.settings),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        """SIGKILL the service process alone (its sandboxes must die with it)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def survivors(self) -> list[int]:
        """Processes still alive in the killed service's session (leaked sandboxes)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields[3]) == self.pid and pid_alive(int(entry.name)):  # fields[3]: session
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        """SIGTERM (graceful drain), SIGKILL the whole session after a grace."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            terminate(self.proc.pid, grace=15.0)
        self.proc.wait()
        for pid in self.survivors():
            terminate(pid, grace=0)


def executor(log_dir: Path, nats_url: str, creds: Credentials, *, slots: int = 4) -> ServiceProcess:
    """An executor process: short ack wait and heartbeats so a lost one is noticed fast."""
    return ServiceProcess(
        "executor",
        log_dir,
        **creds.identity("executor"),
        nats_url=nats_url,
        executor_health_host="127.0.0.1",
        executor_health_port=free_port(),
        executor_slots=slots,
        ack_wait_seconds=2,
        heartbeat_seconds=0.5,
        shutdown_grace_seconds=5,
    )


def scheduler(log_dir: Path, nats_url: str, tasks_addr: str, creds: Credentials) -> ServiceProcess:
    """A scheduler process with a fast reaper: deadline plus grace stays a few seconds."""
    return ServiceProcess(
        "scheduler",
        log_dir,
        **creds.identity("scheduler"),
        nats_url=nats_url,
        tasks_addr=tasks_addr,
        scheduler_health_host="127.0.0.1",
        scheduler_health_port=free_port(),
        per_user_concurrency=1000,
        concurrency_retry_seconds=0.2,
        reaper_interval_seconds=1,
        reaper_grace_seconds=REAPER_GRACE,
        pending_timeout_seconds=PENDING_TIMEOUT,
        reaper_max_requeues=3,
    )


REAPER_GRACE = 3.0
PENDING_TIMEOUT = 15.0


TASK_TIMEOUT = 10
SWEEP_SLACK = 3.0


def _past_deadline(execution: dict[str, Any], outage: float) -> bool:
    started = execution.get("started_at")
    if execution["status"] != "running" or not started:
        return False
    began = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
    # Nothing records a final state while the database is away: an outage extends the limit.
    limit = TASK_TIMEOUT + REAPER_GRACE + SWEEP_SLACK + outage
    return (dt.datetime.now(dt.UTC) - began).total_seconds() > limit


@dataclass
class Ledger:
    """Every start the API accepted, and what became of it."""

    accepted: dict[str, str] = field(default_factory=dict)  # execution id → task id
    refused: Counter[int] = field(default_factory=Counter)  # status → count (not 201)
    errors: Counter[str] = field(default_factory=Counter)  # transport failures by type
    finals: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        """5xx answers other than 503 (the honest answer while a dependency is down)."""
        return sum(n for status, n in self.refused.items() if status >= 500 and status != 503)

    async def start(self, client: httpx.AsyncClient, user: User, script: str = QUICK) -> None:
        """Create a task and start it once; record what the API answered."""
        try:
            created = await client.post(
                f"{API}/tasks",
                json={
                    "name": "fault",
                    "script_type": "python",
                    "script_content": script,
                    "timeout_seconds": TASK_TIMEOUT,
                },
                headers=user.auth,
            )
            if created.status_code != 201:
                self.refused[created.status_code] += 1
                return
            task_id = created.json()["id"]
            resp = await client.post(f"{API}/tasks/{task_id}/executions", headers=user.auth)
        except httpx.TransportError as exc:
            self.errors[type(exc).__name__] += 1
            return
        if resp.status_code == 201:
            self.accepted[resp.json()["id"]] = task_id
        else:
            self.refused[resp.status_code] += 1

    async def settle(
        self, client: httpx.AsyncClient, user: User, *, deadline: float, outage: float = 0.0
    ) -> tuple[list[str], list[str]]:
        """Poll until every accepted execution is final or `deadline` (monotonic) passes.

        Returns (lost, overdue): lost never became final or vanished; overdue were seen running
        past their start plus the task's timeout plus the reaper's grace (and a sweep's slack).
        """
        waiting = set(self.accepted) - set(self.finals)
        vanished: list[str] = []
        overdue: set[str] = set()
        while waiting and time.monotonic() < deadline:
            for execution_id in sorted(waiting):
                try:
                    resp = await client.get(f"{API}/executions/{execution_id}", headers=user.auth)
                except httpx.TransportError:
                    continue
                if resp.status_code == 404:
                    vanished.append(execution_id)
                    waiting.discard(execution_id)
                elif resp.status_code == 200 and resp.json()["status"] in FINAL:
                    self.finals[execution_id] = resp.json()
                    waiting.discard(execution_id)
                elif resp.status_code == 200 and _past_deadline(resp.json(), outage):
                    overdue.add(execution_id)
            if waiting:
                await asyncio.sleep(0.5)
        return sorted(waiting | set(vanished)), sorted(overdue)

    async def doubled(self, client: httpx.AsyncClient, user: User, database_url: str) -> list[str]:
        """Executions whose final state changed since it was seen, and tasks run twice."""
        changed = []
        for execution_id, first in self.finals.items():
            resp = await client.get(f"{API}/executions/{execution_id}", headers=user.auth)
            if resp.json() != first:
                changed.append(execution_id)
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT task_id::text AS task_id, count(*) AS n FROM executions"
                " WHERE task_id = ANY($1::uuid[]) GROUP BY task_id HAVING count(*) > 1",
                list(set(self.accepted.values())),
            )
        finally:
            await conn.close()
        return changed + [f"task {r['task_id']} ran {r['n']} times" for r in rows]

    def outcomes(self) -> Counter[str]:
        """Final executions by status and termination reason."""
        return Counter(f"{e['status']}/{e.get('termination_reason')}" for e in self.finals.values())


async def load(
    client: httpx.AsyncClient, user: User, ledger: Ledger, *, seconds: float, workers: int = 4
) -> None:
    """Start executions from `workers` concurrent clients for `seconds`."""
    until = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < until:
            await ledger.start(client, user)
            await asyncio.sleep(0.05)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def ready(service: ServiceProcess, marker: str, timeout: float = 30) -> None:
    """Wait until the process logged `marker` (e.g. "executor ready")."""
    deadline = time.monotonic() + timeout
    while marker not in service.log.read_text(errors="replace"):
        assert service.proc is not None
        assert service.proc.poll() is None, service.log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{service.name} not ready"
        await asyncio.sleep(0.1)


async def outbox_pending(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM execution_outbox WHERE published_at IS NULL"
        )
    finally:
        await conn.close()
    return count


def report(counters: Any, ledger: Ledger, lost: list[str], doubled: list[str]) -> None:
    print(
        f"accepted={len(ledger.accepted)} refused={dict(ledger.refused)} "
        f"errors={dict(ledger.errors)} outcomes={dict(ledger.outcomes())} "
        f"lost={len(lost)} doubled={len(doubled)}"
    )
    counters.add_cases(len(ledger.accepted))
    counters.add_lost(len(lost))
    counters.add_doubled(len(doubled))
    counters.add_5xx(ledger.server_errors)
    counters.add_contained(len(ledger.finals))


async def settle_and_check(
    client: httpx.AsyncClient,
    user: User,
    ledger: Ledger,
    database_url: str,
    counters: Any,
    *,
    seconds: float = 90.0,
    outage: float = 0.0,
) -> None:
    """Wait until every accepted execution is final, count the run, and fail on any execution
    lost, finished twice, or running past its deadline plus grace."""
    lost, overdue = await ledger.settle(
        client, user, deadline=time.monotonic() + seconds, outage=outage
    )
    await asyncio.sleep(1.0)  # late duplicates of results would land now
    doubled = await ledger.doubled(client, user, database_url)
    report(counters, ledger, lost, doubled)
    assert not lost, f"lost: {lost} ({ledger.outcomes()})"
    assert not doubled, f"doubled: {doubled}"
    assert not overdue, f"running past deadline plus grace: {overdue}"
