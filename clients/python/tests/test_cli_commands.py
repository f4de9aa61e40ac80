"""The CLI's other commands against the real stack: a password session kept in the XDG config
dir, whoami, runtimes, tasks, executions (with logs), --json, logout, and refused configs."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_harness import PASSWORD, Cli, register

pytestmark = pytest.mark.sandbox


async def test_a_password_session_and_the_commands(
    gateway_url: str, client: httpx.AsyncClient, pipeline: Any, tmp_path: Path
) -> None:
    email, token = await register(client, "Cli")
    cli = Cli(gateway_url, tmp_path / "config")
    login = await cli("login", "--email", email, "--password-stdin", stdin=f"{PASSWORD}\n".encode())
    assert login.code == 0, login.err
    stored = tmp_path / "config" / "voidrunner" / "credentials.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    auth = {"Authorization": f"Bearer {token}"}
    made = await client.post(
        "/api/v1/tasks",
        json={"name": "saved", "script_type": "python", "script_content": "print('saved')"},
        headers=auth,
    )
    task_id = made.json()["id"]
    started = await client.post(f"/api/v1/tasks/{task_id}/executions?wait=30", headers=auth)
    execution_id = started.json()["id"]

    # Independent reads at once: each is a process start-up (≈ 0.7 s) of its own.
    (
        who,
        runtimes,
        runtimes_text,
        listed,
        listed_text,
        shown_task,
        runs,
        shown,
        logs,
        followed,
        cancel,
        missing,
    ) = await asyncio.gather(
        cli("whoami", "--json"),
        cli("runtimes", "--json"),
        cli("runtimes"),
        cli("tasks", "list", "--json"),
        cli("tasks", "list"),
        cli("tasks", "show", task_id, "--json"),
        cli("executions", "list", "--task", task_id, "--json"),
        cli("executions", "show", execution_id),
        cli("executions", "logs", execution_id),
        cli("executions", "logs", execution_id, "--follow"),
        cli("executions", "cancel", execution_id),
        cli("tasks", "show", str(uuid.uuid4())),
    )
    assert who.code == 0, who.err
    assert json.loads(who.stdout)["email"] == email
    assert "python" in {r["name"] for r in json.loads(runtimes.stdout)}
    assert b"python" in runtimes_text.stdout
    assert [t["id"] for t in json.loads(listed.stdout)] == [task_id]
    assert b"saved" in listed_text.stdout
    assert json.loads(shown_task.stdout)["name"] == "saved"
    assert [e["id"] for e in json.loads(runs.stdout)] == [execution_id]
    assert b"completed" in shown.stdout
    assert logs.stdout == b"saved\n"
    assert followed.stdout == b"saved\n"
    assert cancel.code == 125
    assert "cannot cancel execution with status: completed" in cancel.err
    assert (missing.code, missing.err.strip()) == (125, "voidrunner: Task not found (HTTP 404)")

    assert (await cli("tasks", "delete", task_id)).code == 0
    assert (await cli("tasks", "list", "--json")).stdout.strip() == b"[]"

    out = await cli("logout")
    assert out.code == 0
    assert not stored.exists()
    after = await cli("whoami")
    assert after.code == 125
    assert "not signed in" in after.err


async def test_refused_configs_and_keys(gateway_url: str, tmp_path: Path) -> None:
    cli = Cli(gateway_url, tmp_path / "config")
    wrong = await cli("login", "--key", "vr_wrongwrongwrong")
    assert wrong.code == 125
    assert "Invalid or expired token" in wrong.err
    path = tmp_path / "config" / "voidrunner" / "credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"url": gateway_url, "api_key": "vr_x"}))
    path.chmod(0o644)
    loose = await cli("whoami")
    assert loose.code == 125
    assert "readable by other users" in loose.err
    assert "Traceback" not in loose.err
    usage = await cli("keys", "create", "ci", "--scope", "root")
    assert usage.code == 125
    assert "unknown scope 'root'" in usage.err
