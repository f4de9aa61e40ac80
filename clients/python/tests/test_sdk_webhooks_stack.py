"""Webhooks and task shares through the SDK against the real stack: endpoints and their
deliveries reaching a receiver on loopback (the operator's allow-list lets the stack send there),
each checked with `verify_webhook`; redelivery, the secret's rotation, callback URLs; and a
task shared with a second user, who finds it among the tasks shared with them.

The gateway runs in this test's event loop, so the sync client runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from client_harness import PASSWORD

from tests.e2e.webhook_receiver import LOOPBACK_WEBHOOKS, Receiver, running_receiver
from voidrunner.client import (
    AsyncClient,
    Client,
    Conflict,
    Delivery,
    Forbidden,
    NotFound,
    RunSpec,
    TaskSpec,
    TaskUpdate,
    WebhookUpdate,
    WebhookVerificationFailed,
    verify_webhook,
)

pytestmark = pytest.mark.sandbox

HELLO = RunSpec(script_type="python", script_content="print('hi')")


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    return dict(LOOPBACK_WEBHOOKS)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as server:
        yield server


def _email(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


async def _settled(vr: AsyncClient, webhook_id: uuid.UUID, count: int) -> list[Delivery]:
    """The webhook's deliveries once `count` of them are no longer pending."""
    async with asyncio.timeout(30):
        while True:
            found = [d async for d in vr.webhooks.deliveries(webhook_id, page_size=1)]
            if len([d for d in found if d.state != "pending"]) >= count:
                return found
            await asyncio.sleep(0.1)


async def test_webhooks_deliver_verified_events(
    gateway_url: str, pipeline: Any, receiver: Receiver
) -> None:
    async with AsyncClient(gateway_url) as vr:
        await vr.auth.register(_email("hooks"), PASSWORD, "Hooks")
        assert (await vr.webhooks.secret()).exists is False
        hook = await vr.webhooks.create(
            receiver.url("sdk"), events=["execution.completed"], description="sdk"
        )
        assert hook.secret is not None
        assert hook.secret.startswith("whsec_")
        secret = hook.secret
        other = await vr.webhooks.create(receiver.url("other"))
        assert other.secret is None  # one secret per user, shown once
        assert len(other.events) == 5  # none chosen: every one
        # Pages of 1: the iterator follows the cursor; newest first.
        assert [w.id async for w in vr.webhooks.list(page_size=1)] == [other.id, hook.id]
        shown = await vr.webhooks.get(hook.id)
        assert (shown.events, shown.description, shown.enabled) == (
            ["execution.completed"],
            "sdk",
            True,
        )
        assert (await vr.webhooks.secret()).exists is True

        run = await vr.runs.create(HELLO, wait=30)
        assert run.status == "completed"
        (got,) = await receiver.wait_for(1, "sdk")
        event = verify_webhook(got.body, got.headers, secret)
        assert (event.type, event.data.execution_id) == ("execution.completed", run.id)
        assert (event.data.status, event.data.return_code) == ("completed", 0)
        with pytest.raises(WebhookVerificationFailed):
            verify_webhook(got.body.replace(b"completed", b"failed"), got.headers, secret)
        (delivery,) = await _settled(vr, hook.id, 1)
        assert (delivery.state, delivery.message_id) == ("delivered", got.message_id)
        assert delivery.execution_id == run.id
        assert [a.status_code for a in delivery.attempt_log] == [200]

        again = await vr.webhooks.redeliver(hook.id, delivery.id)
        assert again.id == delivery.id
        _, second = await receiver.wait_for(2, "sdk")
        assert second.message_id == got.message_id  # receivers de-duplicate on it
        assert verify_webhook(second.body, second.headers, secret) == event

        disabled = await vr.webhooks.update(hook.id, WebhookUpdate(enabled=False))
        assert disabled.enabled is False
        assert disabled.description == "sdk"  # fields not set are kept
        with pytest.raises(Conflict):
            await vr.webhooks.redeliver(hook.id, delivery.id)

        # Rotation: both secrets sign during the overlap.
        await receiver.wait_for(2, "other")  # the first run's started + completed
        rotated = await vr.webhooks.rotate_secret()
        assert rotated.secret != secret
        assert rotated.previous_valid_until is not None
        callback = await vr.runs.create(
            RunSpec(
                script_type="python", script_content="print(2)", callback_url=receiver.url("cb")
            ),
            wait=30,
        )
        assert callback.webhook_secret is None  # the secret existed already
        for path in ("cb", "other"):
            for d in (await receiver.wait_for(4 if path == "other" else 2, path))[-2:]:
                new = verify_webhook(d.body, d.headers, rotated.secret)
                assert verify_webhook(d.body, d.headers, secret) == new
                assert new.data.execution_id == callback.id

        task = await vr.tasks.create(
            TaskSpec(
                name="cb", callback_url=receiver.url("task"), **HELLO.model_dump(exclude_none=True)
            )
        )
        assert (task.callback_url, task.webhook_secret) == (receiver.url("task"), None)
        cleared = await vr.tasks.update(task.id, TaskUpdate(callback_url=None))
        assert cleared.callback_url is None

        for w in (hook, other):
            await vr.webhooks.delete(w.id)
        with pytest.raises(NotFound):
            await vr.webhooks.get(hook.id)
        assert [w async for w in vr.webhooks.list()] == []


async def test_a_batch_whose_callback_url_made_the_secret_answers_it(
    gateway_url: str, pipeline: Any, receiver: Receiver
) -> None:
    async with AsyncClient(gateway_url) as vr:
        await vr.auth.register(_email("batch"), PASSWORD, "Batch")
        specs = [
            RunSpec(script_type="python", script_content=f"print({i})", callback_url=url)
            for i, url in enumerate((None, receiver.url("batch")))
        ]
        batch = await vr.runs.batch(specs)
        secret = batch.webhook_secret
        assert secret is not None
        assert secret.startswith("whsec_")
        assert (await vr.webhooks.secret()).exists is True
        # Only the second run has the callback: its events (started, then the final one) are
        # signed with the secret the batch answered, which nothing else ever shows again.
        deliveries = await receiver.wait_for(2, "batch")
        events = [verify_webhook(d.body, d.headers, secret) for d in deliveries]
        assert {e.data.execution_id for e in events} == {batch.executions[1].id}
        again = await vr.runs.batch(specs[1:])
        assert again.webhook_secret is None  # the secret existed already


def shares_scenario(url: str) -> None:
    grace_email = _email("grace")
    with Client(url) as owner, Client(url) as grace:
        owner.auth.register(_email("owner"), PASSWORD, "Owner")
        grace.auth.register(grace_email, PASSWORD, "Grace")
        task = owner.tasks.create(TaskSpec(name="shared", **HELLO.model_dump(exclude_none=True)))
        assert list(grace.tasks.list(shared="with_me")) == []

        viewer = owner.shares.put(task.id, grace_email.upper(), "viewer")
        assert (viewer.email, viewer.role) == (grace_email, "viewer")
        runner = owner.shares.put(task.id, grace_email, "runner")  # the role changes
        assert runner.role == "runner"
        assert [(s.email, s.role) for s in owner.shares.list(task.id)] == [(grace_email, "runner")]

        (seen,) = grace.tasks.list(shared="with_me")
        assert (seen.id, seen.shared_role, seen.env) == (task.id, "runner", None)
        assert list(grace.tasks.list()) == []  # her own tasks: none
        assert grace.tasks.get(task.id).shared_role == "runner"
        with pytest.raises(Forbidden):
            grace.shares.list(task.id)  # only the owner manages shares
        assert owner.tasks.get(task.id).shared_role is None

        owner.shares.delete(task.id, grace_email)
        assert owner.shares.list(task.id) == []
        assert list(grace.tasks.list(shared="with_me")) == []
        with pytest.raises(NotFound):
            grace.tasks.get(task.id)
        with pytest.raises(NotFound, match="Share not found"):
            owner.shares.delete(task.id, grace_email)


async def test_a_shared_task_is_listed_for_the_user_it_is_shared_with(gateway_url: str) -> None:
    await asyncio.to_thread(shares_scenario, gateway_url)
