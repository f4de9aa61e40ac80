"""Webhooks through the whole pipeline: a run's status changes reach a real receiver on loopback
(reached through the operator's allow-list), signed per Standard Webhooks and verified by its
reference library; retries, disabling on 410, redelivery, callback URLs, and the API's refusals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_judge import one_shot
from tests.e2e.test_pipeline import create_task, login, run
from tests.e2e.webhook_receiver import LOOPBACK_WEBHOOKS, Receiver, running_receiver

pytestmark = pytest.mark.sandbox

HOOKS = "/api/v1/webhooks"
HELLO = {"script_type": "python", "script_content": "print('hi')"}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as server:
        yield server


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    return dict(LOOPBACK_WEBHOOKS)


async def register(
    client: httpx.AsyncClient, auth: dict[str, str], url: str, **extra: Any
) -> dict[str, Any]:
    resp = await client.post(HOOKS, json={"url": url, **extra}, headers=auth)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def deliveries(
    client: httpx.AsyncClient, auth: dict[str, str], webhook_id: str
) -> list[dict[str, Any]]:
    resp = await client.get(f"{HOOKS}/{webhook_id}/deliveries", headers=auth)
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["deliveries"]
    return found


async def settled(
    client: httpx.AsyncClient, auth: dict[str, str], webhook_id: str, count: int
) -> list[dict[str, Any]]:
    """The webhook's deliveries once `count` of them are no longer pending."""
    async with asyncio.timeout(30):
        while True:
            found = await deliveries(client, auth, webhook_id)
            if len([d for d in found if d["state"] != "pending"]) >= count:
                return found
            await asyncio.sleep(0.1)


async def test_a_run_is_delivered_signed_and_logged(
    client: httpx.AsyncClient, pipeline: object, receiver: Receiver
) -> None:
    auth = await login(client)
    hook = await register(client, auth, receiver.url("hook"))
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    assert set(hook["events"]) == {
        "execution.started",
        "execution.completed",
        "execution.failed",
        "execution.timeout",
        "execution.cancelled",
    }
    # A second webhook reuses the secret and never shows it again.
    again = await register(client, auth, receiver.url("other"), events=["execution.failed"])
    assert "secret" not in again

    execution = await one_shot(client, auth, HELLO)
    assert execution["status"] == "completed"
    got = await receiver.wait_for(2, "hook")
    payloads = [d.verified(secret) for d in got]
    assert sorted(p["type"] for p in payloads) == ["execution.completed", "execution.started"]
    done = next(p for p in payloads if p["type"] == "execution.completed")
    assert done["data"]["execution_id"] == execution["id"]
    assert done["data"]["status"] == "completed"
    assert done["data"]["return_code"] == 0
    assert "stdout" not in done["data"]
    assert len({d.message_id for d in got}) == 2
    # A wrong secret fails verification: the signature really covers the body.
    with pytest.raises(Exception, match="signature"):
        got[0].verified("whsec_" + "A" * 43 + "=")

    log = await settled(client, auth, hook["id"], 2)
    assert {d["state"] for d in log} == {"delivered"}
    assert {d["message_id"] for d in log} == {d.message_id for d in got}
    attempt = log[0]["attempt_log"][0]
    assert attempt["status_code"] == 200
    assert attempt["latency_ms"] >= 0
    # The failed-only webhook got nothing from a completed run.
    assert [d for d in receiver.received if d.path == "other"] == []


async def test_a_500_is_retried_under_the_same_webhook_id(
    client: httpx.AsyncClient, pipeline: object, receiver: Receiver
) -> None:
    auth = await login(client)
    receiver.plan["flaky"] = [500]
    hook = await register(client, auth, receiver.url("flaky"), events=["execution.completed"])
    await one_shot(client, auth, HELLO)
    # The first retry comes after 5 s (±20 %).
    first, second = await receiver.wait_for(2, "flaky", seconds=30)
    assert first.message_id == second.message_id
    assert first.body == second.body
    assert second.verified(hook["secret"])["type"] == "execution.completed"
    (delivery,) = await settled(client, auth, hook["id"], 1)
    assert delivery["state"] == "delivered"
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]


async def test_a_410_disables_the_endpoint_and_redelivery_needs_it_enabled(
    client: httpx.AsyncClient, pipeline: object, receiver: Receiver
) -> None:
    auth = await login(client)
    receiver.plan["gone"] = [410]
    hook = await register(client, auth, receiver.url("gone"), events=["execution.completed"])
    await one_shot(client, auth, HELLO)
    (delivery,) = await settled(client, auth, hook["id"], 1)
    assert delivery["state"] == "failed"
    shown = (await client.get(f"{HOOKS}/{hook['id']}", headers=auth)).json()
    assert shown["enabled"] is False
    assert shown["disabled_reason"] == "gone"

    redeliver = f"{HOOKS}/{hook['id']}/deliveries/{delivery['id']}/redeliver"
    refused = await client.post(redeliver, headers=auth)
    assert refused.status_code == 409, refused.text
    enabled = await client.patch(f"{HOOKS}/{hook['id']}", json={"enabled": True}, headers=auth)
    assert enabled.status_code == 200, enabled.text
    assert "disabled_reason" not in enabled.json()
    queued = await client.post(redeliver, headers=auth)
    assert queued.status_code == 202, queued.text
    first, second = await receiver.wait_for(2, "gone")
    assert first.message_id == second.message_id
    async with asyncio.timeout(20):
        while (await deliveries(client, auth, hook["id"]))[0]["state"] != "delivered":
            await asyncio.sleep(0.1)


async def test_a_callback_url_gets_its_run_and_a_task_gets_every_execution(
    client: httpx.AsyncClient, pipeline: object, receiver: Receiver
) -> None:
    auth = await login(client)
    resp = await client.post(
        "/api/v1/runs?wait=30",
        json={**HELLO, "callback_url": receiver.url("run")},
        headers=auth,
    )
    assert resp.status_code == 201, resp.text
    secret = resp.json()["webhook_secret"]
    got = await receiver.wait_for(2, "run")
    assert {d.verified(secret)["data"]["execution_id"] for d in got} == {resp.json()["id"]}

    task_id = await create_task(client, auth, "print(1)", callback_url=receiver.url("task"))
    task = (await client.get(f"/api/v1/tasks/{task_id}", headers=auth)).json()
    assert task["callback_url"] == receiver.url("task")
    assert "webhook_secret" not in task  # the secret exists already: never shown again
    first = await run(client, auth, task_id)
    await receiver.wait_for(2, "task")
    cleared = await client.put(
        f"/api/v1/tasks/{task_id}", json={"callback_url": None}, headers=auth
    )
    assert cleared.status_code == 200, cleared.text
    assert "callback_url" not in cleared.json()
    await run(client, auth, task_id)
    await asyncio.sleep(1)
    tasks_hooks = [d for d in receiver.received if d.path == "task"]
    assert {d.verified(secret)["data"]["execution_id"] for d in tasks_hooks} == {first["id"]}


async def test_rotating_the_secret_signs_with_both_during_the_overlap(
    client: httpx.AsyncClient, pipeline: object, receiver: Receiver
) -> None:
    auth = await login(client)
    old = (await register(client, auth, receiver.url("rot"), events=["execution.completed"]))[
        "secret"
    ]
    rotated = await client.post(f"{HOOKS}/secret/rotate", headers=auth)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old
    assert rotated.json()["previous_valid_until"]
    info = (await client.get(f"{HOOKS}/secret", headers=auth)).json()
    assert info["exists"] is True
    assert "secret" not in info
    await one_shot(client, auth, HELLO)
    (got,) = await receiver.wait_for(1, "rot")
    assert got.headers["webhook-signature"].count("v1,") == 2
    assert got.verified(new) == got.verified(old)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user:pw@example.com/hook", "credentials"),
        ("ftp://example.com/hook", "scheme"),
        ("http://10.0.0.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::ffff:127.0.0.2]/hook", "mapped"),
        ("http://127.0.0.1:99999/hook", "port"),
        ("http://localhost./hook", "name"),
        # Public, but this stack sends to allow-listed addresses only: no test reaches out.
        ("https://93.184.215.14/hook", "not listed"),
    ],
)
async def test_hostile_urls_are_refused_with_the_field_named(
    client: httpx.AsyncClient, url: str, why: str
) -> None:
    auth = await login(client)
    resp = await client.post(HOOKS, json={"url": url}, headers=auth)
    assert resp.status_code == 400, (why, resp.text)
    assert [e["field"] for e in resp.json()["validation_errors"]] == ["url"], resp.text
    task = await client.post(
        "/api/v1/tasks",
        json={"name": "t", **HELLO, "callback_url": url},
        headers=auth,
    )
    assert task.status_code == 400, task.text
    assert "callback_url" in [e["field"] for e in task.json()["validation_errors"]]
    assert (await client.get(HOOKS, headers=auth)).json()["webhooks"] == []
    assert (await client.get("/api/v1/tasks", headers=auth)).json()["tasks"] == []


async def test_webhooks_are_private_and_validated(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    alice = await login(client, "alice@example.com")
    bob = await login(client, "bob@example.com")
    hook = await register(client, alice, receiver.url("a"))
    for method, path, body in (
        ("GET", f"{HOOKS}/{hook['id']}", None),
        ("PATCH", f"{HOOKS}/{hook['id']}", {"enabled": False}),
        ("DELETE", f"{HOOKS}/{hook['id']}", None),
        ("GET", f"{HOOKS}/{hook['id']}/deliveries", None),
    ):
        resp = await client.request(method, path, json=body, headers=bob)
        assert resp.status_code == 404, (method, path, resp.text)
    assert (await client.get(HOOKS, headers=bob)).json()["webhooks"] == []
    bad_event = await client.post(
        HOOKS, json={"url": receiver.url("a"), "events": ["execution.exploded"]}, headers=alice
    )
    assert bad_event.status_code == 400
    assert bad_event.json()["validation_errors"][0]["field"].startswith("events")
    assert (await client.get(f"{HOOKS}/not-an-id", headers=alice)).status_code == 400
    listed = (await client.get(HOOKS, headers=alice)).json()
    assert [w["id"] for w in listed["webhooks"]] == [hook["id"]]
    assert "secret" not in listed["webhooks"][0]
    deleted = await client.delete(f"{HOOKS}/{hook['id']}", headers=alice)
    assert deleted.status_code == 204
    assert (await client.get(f"{HOOKS}/{hook['id']}", headers=alice)).status_code == 404
