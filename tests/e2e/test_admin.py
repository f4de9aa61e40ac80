"""The operator's admin role and view through the whole stack: `python -m voidrunner.auth admin`
(a real process) grants and revokes the role, the admin routes refuse everyone else, and their
figures follow real runs (PostgreSQL through the tasks service, JetStream's lanes, the
executor's own status)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.test_pipeline import PASSWORD, create_task, login, run
from voidrunner.contracts.execution import FINAL
from voidrunner.devstack.credentials import Credentials

pytestmark = pytest.mark.sandbox


def admin_command(
    action: str, email: str, database_url: str, nats_url: str, credentials: Credentials
) -> subprocess.CompletedProcess[str]:
    """Run the auth service's `admin` command as the operator would, in its own process."""
    env = {
        **os.environ,
        "VOIDRUNNER_ENVIRONMENT": "test",
        "VOIDRUNNER_DATABASE_URL": credentials.database_url(database_url, "auth"),
        "VOIDRUNNER_NATS_URL": nats_url,
        **credentials.environment("auth"),
    }
    return subprocess.run(
        [sys.executable, "-m", "voidrunner.auth", "admin", action, email],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def sign_in(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    resp = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


async def eventually_status(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], status: int
) -> httpx.Response:
    """Poll until `path` answers `status` (a KV update reaching the gateway), at most 5 s."""
    for _ in range(50):
        resp = await client.get(path, headers=headers)
        if resp.status_code == status:
            return resp
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} still answers {resp.status_code}: {resp.text}")


async def test_admin_routes_refuse_everyone_but_admins(client: httpx.AsyncClient) -> None:
    user = await login(client, "not-admin@example.com")
    for path in ("/api/v1/admin/stats", "/api/v1/admin/executors"):
        assert (await client.get(path)).status_code == 401
        refused = await client.get(path, headers=user)
        assert refused.status_code == 403, refused.text
        assert refused.json() == {"error": "Access denied"}
    me = await client.get("/api/v1/auth/me", headers=user)
    assert me.json()["user"]["role"] == "user"
    # A user cannot give a key the admin scope.
    key = await client.post(
        "/api/v1/auth/api-keys", headers=user, json={"name": "ops", "scopes": ["admin"]}
    )
    assert key.status_code == 403, key.text


async def test_the_admin_command_refuses_an_unknown_email(
    database_url: str, nats_url: str, service_credentials: Credentials, auth_addr: str
) -> None:
    done = admin_command("grant", "nobody@example.com", database_url, nats_url, service_credentials)
    assert done.returncode == 1
    assert "no user has the email nobody@example.com" in done.stderr


async def test_an_admin_sees_the_figures_of_real_runs(
    client: httpx.AsyncClient,
    pipeline: Any,
    database_url: str,
    nats_url: str,
    service_credentials: Credentials,
) -> None:
    email = "ops@example.com"
    await login(client, email)
    granted = admin_command("grant", email, database_url, nats_url, service_credentials)
    assert granted.returncode == 0, granted.stderr
    admin = await sign_in(client, email)
    me = await client.get("/api/v1/auth/me", headers=admin)
    assert me.json()["user"]["role"] == "admin"

    task_id = await create_task(client, admin, "print('figures')")
    for _ in range(2):
        assert (await run(client, admin, task_id))["status"] == "completed"
    failing = await create_task(client, admin, "raise SystemExit(3)")
    assert (await run(client, admin, failing))["status"] == "failed"
    # A one-shot run has no task: its runtime still counts.
    one_shot = await client.post(
        "/api/v1/runs?wait=30",
        headers=admin,
        json={"script_type": "python", "script_content": "print('once')"},
    )
    assert one_shot.json()["status"] == "completed", one_shot.text
    # Accepted before the window, finished in it: no longer accepted in the window, still finished.
    early = await run(client, admin, task_id)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE executions SET created_at = now() - interval '1 hour' WHERE id = $1",
            uuid.UUID(early["id"]),
        )
    finally:
        await conn.close()

    resp = await client.get("/api/v1/admin/stats", params={"window": 5}, headers=admin)
    assert resp.status_code == 200, resp.text
    stats = resp.json()
    window = stats["window"]
    assert window["minutes"] == 5
    assert window["accepted"] >= 4
    assert window["by_status"]["completed"] >= 2
    assert window["by_status"]["failed"] >= 1
    assert window["by_termination_reason"]["exit"] >= 3
    python = next(r for r in window["runtimes"] if r["runtime"] == "python")
    assert python["executions"] >= 4
    assert python["unsuccessful"] >= 1
    assert python["run_ms"]["p50"] is not None
    assert python["queue_wait_ms"]["p95"] is not None
    # Every minute of the window, oldest first, adding up to what was accepted.
    minutes = [dt.datetime.fromisoformat(m["minute"]) for m in window["per_minute"]]
    assert minutes == sorted(minutes)
    assert len(minutes) in (5, 6)
    assert sum(m["accepted"] for m in window["per_minute"]) == window["accepted"]
    # What finished in the window: every final one accepted in it, and the early one too.
    ended = sum(n for status, n in window["by_status"].items() if status in FINAL)
    assert sum(m["finished"] for m in window["per_minute"]) >= ended + 1
    assert {lane["lane"] for lane in stats["lanes"]} == {"urgent", "normal", "low"}
    assert stats["active"] == {"pending": 0, "running": 0}
    assert stats["outbox"]["pending"] == 0
    assert stats["capacity"]["executors"] >= 1
    assert stats["capacity"]["slots"] >= pipeline.settings.executor_slots

    listed = await client.get("/api/v1/admin/executors", headers=admin)
    assert listed.status_code == 200, listed.text
    mine = next(e for e in listed.json()["executors"] if e["id"] == pipeline.settings.executor_id)
    assert "python" in mine["runtimes"]
    assert mine["slots"] == pipeline.settings.executor_slots
    assert not mine["draining"]
    beat = dt.datetime.fromisoformat(mine["last_heartbeat_at"])
    assert dt.datetime.now(dt.UTC) - beat < dt.timedelta(seconds=15)

    for bad in (0, 1441, "x"):
        refused = await client.get("/api/v1/admin/stats", params={"window": bad}, headers=admin)
        assert refused.status_code == 400, refused.text


async def test_revoking_the_role_closes_admin_routes_to_tokens_and_keys(
    client: httpx.AsyncClient, database_url: str, nats_url: str, service_credentials: Credentials
) -> None:
    email = "former-admin@example.com"
    await login(client, email)
    assert (
        admin_command("grant", email, database_url, nats_url, service_credentials).returncode == 0
    )
    admin = await sign_in(client, email)
    created = await client.post(
        "/api/v1/auth/api-keys", headers=admin, json={"name": "ops", "scopes": ["admin"]}
    )
    assert created.status_code == 201, created.text
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    await eventually_status(client, "/api/v1/admin/executors", key, 200)
    # The admin scope implies read, nothing more.
    assert (await client.get("/api/v1/tasks", headers=key)).status_code == 200
    made = await client.post(
        "/api/v1/tasks",
        headers=key,
        json={"name": "x", "script_type": "python", "script_content": "print(1)"},
    )
    assert made.status_code == 403, made.text

    revoked = admin_command("revoke", email, database_url, nats_url, service_credentials)
    assert revoked.returncode == 0, revoked.stderr
    assert "2 session(s) revoked" in revoked.stdout  # registration and sign-in
    # The session's tokens die at once; the key lives on, without the admin routes.
    await eventually_status(client, "/api/v1/auth/me", admin, 401)
    await eventually_status(client, "/api/v1/admin/executors", key, 403)
    assert (await client.get("/api/v1/tasks", headers=key)).status_code == 200
    again = await sign_in(client, email)
    assert (await client.get("/api/v1/admin/stats", headers=again)).status_code == 403
