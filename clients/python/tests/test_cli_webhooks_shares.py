"""`voidrunner webhooks ...`, `voidrunner shares ...` and `tasks list --shared` against the real
stack: their tables, --json, the secret printed once (with its note on stderr), and refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_harness import Cli, register

from tests.e2e.webhook_receiver import LOOPBACK_WEBHOOKS, Receiver, running_receiver
from voidrunner.client import verify_webhook

pytestmark = pytest.mark.sandbox


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    return dict(LOOPBACK_WEBHOOKS)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as server:
        yield server


async def test_webhook_commands(
    gateway_url: str,
    client: httpx.AsyncClient,
    pipeline: Any,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    _, token = await register(client, "Hooks")
    cli = Cli(gateway_url, tmp_path / "config", token)
    auth = {"Authorization": f"Bearer {token}"}

    created = await cli("webhooks", "create", receiver.url("cli"), "--event", "execution.completed")
    assert created.code == 0, created.err
    text = created.stdout.decode()
    secret = next(line.split()[1] for line in text.splitlines() if line.startswith("secret:"))
    assert secret.startswith("whsec_")
    assert "events:      completed" in text
    assert "shown only now" in created.err
    hook_id = next(line.split()[1] for line in text.splitlines() if line.startswith("id:"))
    second = await cli("webhooks", "create", receiver.url("two"), "--json")
    assert second.code == 0, second.err
    assert "secret" not in json.loads(second.stdout)  # the secret exists: never shown again
    assert "existing secret" in second.err

    listed, listed_text, shown, bad_event = await asyncio.gather(
        cli("webhooks", "list", "--json"),
        cli("webhooks", "list"),
        cli("webhooks", "show", hook_id, "--json"),
        cli("webhooks", "create", receiver.url("x"), "--event", "execution.exploded"),
    )
    assert [w["id"] for w in json.loads(listed.stdout)][1:] == [hook_id]
    assert receiver.url("cli").encode() in listed_text.stdout
    assert listed_text.stdout.startswith(b"ID ")
    assert json.loads(shown.stdout)["events"] == ["execution.completed"]
    assert bad_event.code == 2  # a usage error, refused before any request

    off = await cli("webhooks", "disable", hook_id)
    assert (off.code, off.stdout.decode().strip()) == (0, f"Disabled webhook {hook_id}")
    on = await cli("webhooks", "enable", hook_id, "--json")
    assert json.loads(on.stdout)["enabled"] is True

    run = await client.post(
        "/api/v1/runs?wait=30",
        json={"script_type": "python", "script_content": "print(1)"},
        headers=auth,
    )
    assert run.status_code == 201, run.text
    (got,) = await receiver.wait_for(1, "cli")
    assert str(verify_webhook(got.body, got.headers, secret).data.execution_id) == run.json()["id"]
    async with asyncio.timeout(30):
        while True:
            found = await client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=auth)
            if found.json()["deliveries"][0]["state"] == "delivered":
                break
            await asyncio.sleep(0.1)
    delivery_id = found.json()["deliveries"][0]["id"]
    deliveries, deliveries_json, rotated = await asyncio.gather(
        cli("webhooks", "deliveries", hook_id),
        cli("webhooks", "deliveries", hook_id, "--json"),
        cli("webhooks", "rotate-secret"),
    )
    # After the listings: a redelivery makes the delivery pending again.
    redelivered = await cli("webhooks", "redeliver", hook_id, delivery_id)
    row = deliveries.stdout.decode().splitlines()[1].split()
    assert row[:5] == [delivery_id, "execution.completed", "delivered", "1", "200"]
    assert json.loads(deliveries_json.stdout)[0]["attempt_log"][0]["status_code"] == 200
    assert redelivered.code == 0, redelivered.err
    assert redelivered.stdout.decode().startswith(f"Redelivering {delivery_id} (webhook-id ")
    new_secret = rotated.stdout.decode().strip()
    assert new_secret.startswith("whsec_")
    assert new_secret != secret
    assert "shown only now; the previous one also signs until" in rotated.err
    _, again = await receiver.wait_for(2, "cli")
    assert again.message_id == got.message_id

    assert (await cli("webhooks", "delete", hook_id)).code == 0
    gone = await cli("webhooks", "show", hook_id)
    assert (gone.code, gone.err.strip()) == (125, "voidrunner: Webhook not found (HTTP 404)")


async def test_share_commands_and_tasks_shared_with_me(
    gateway_url: str, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, owner_token = await register(client, "Owner")
    grace_email, grace_token = await register(client, "Grace")
    owner = Cli(gateway_url, tmp_path / "owner", owner_token)
    grace = Cli(gateway_url, tmp_path / "grace", grace_token)
    made = await client.post(
        "/api/v1/tasks",
        json={"name": "shared", "script_type": "python", "script_content": "print(1)"},
        headers={"Authorization": f"Bearer {owner_token}"},
    )
    task_id = made.json()["id"]

    added = await owner("shares", "add", task_id, grace_email, "--role", "runner")
    assert added.code == 0, added.err
    assert added.stdout.decode().strip() == f"Shared task {task_id} with {grace_email} as runner"
    listed, listed_text, theirs, theirs_text, own, bad_role, denied = await asyncio.gather(
        owner("shares", "list", task_id, "--json"),
        owner("shares", "list", task_id),
        grace("tasks", "list", "--shared", "--json"),
        grace("tasks", "list", "--shared"),
        grace("tasks", "list", "--json"),
        owner("shares", "add", task_id, grace_email, "--role", "owner"),
        grace("shares", "list", task_id),
    )
    assert [(s["email"], s["role"]) for s in json.loads(listed.stdout)] == [(grace_email, "runner")]
    assert listed_text.stdout.decode().splitlines()[1].split()[:2] == [grace_email, "runner"]
    assert [(t["id"], t["shared_role"]) for t in json.loads(theirs.stdout)] == [(task_id, "runner")]
    assert theirs_text.stdout.decode().splitlines()[0].split()[:3] == ["ID", "NAME", "ROLE"]
    assert theirs_text.stdout.decode().splitlines()[1].split()[:3] == [task_id, "shared", "runner"]
    assert json.loads(own.stdout) == []
    assert bad_role.code == 2
    assert denied.code == 125
    assert "HTTP 403" in denied.err

    removed = await owner("shares", "remove", task_id, grace_email)
    assert removed.stdout.decode().strip() == f"Removed {grace_email} from task {task_id}"
    after, missing = await asyncio.gather(
        grace("tasks", "list", "--shared", "--json"),
        owner("shares", "remove", task_id, grace_email),
    )
    assert json.loads(after.stdout) == []
    assert (missing.code, missing.err.strip()) == (125, "voidrunner: Share not found (HTTP 404)")
