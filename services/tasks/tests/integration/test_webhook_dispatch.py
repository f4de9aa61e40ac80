"""The delivery loop on real PostgreSQL and a real loopback receiver: a sender that dies mid-attempt
leaves its delivery to the next one, under the same webhook-id; senders side by side never
send one delivery twice while they live.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.e2e.webhook_receiver import Receiver, running_receiver
from voidrunner.common.db import create_pool
from voidrunner.devstack.credentials import Credentials
from voidrunner.tasks.webhooks.allow_list import AllowList
from voidrunner.tasks.webhooks.dispatcher import WebhookDispatcher
from voidrunner.tasks.webhooks.guard import UrlGuard
from voidrunner.tasks.webhooks.sealing import SecretBox, generate_key, parse_key
from voidrunner.tasks.webhooks.sender import SenderConfig, WebhookSender
from voidrunner.tasks.webhooks.signing import generate_secret, new_message_id
from voidrunner.tasks.webhooks.store import EndpointRecord, WebhookStore

LEASE_SECONDS = 1.0
BOX = SecretBox(parse_key(generate_key()))
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
async def pool(database_url: str, service_credentials: Credentials) -> AsyncIterator[asyncpg.Pool]:
    found = await create_pool(service_credentials.database_url(database_url, "tasks"), max_size=4)
    try:
        yield found
    finally:
        await found.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as server:
        yield server


def dispatcher(
    pool: asyncpg.Pool, per_user: int = 4, lease: float = LEASE_SECONDS, box: SecretBox = BOX
) -> WebhookDispatcher:
    guard = UrlGuard(allow_list=AllowList.parse(["127.0.0.1/32"]), allow_http=True)
    return WebhookDispatcher(
        pool,
        WebhookStore(),
        WebhookSender(guard, config=SenderConfig(total_timeout=10)),
        poll_seconds=0.1,
        concurrency=4,
        per_user=per_user,
        lease_seconds=lease,
        retention_days=30,
        box=box,
    )


async def queue(pool: asyncpg.Pool, url: str, count: int) -> tuple[str, uuid.UUID]:
    """An endpoint with `count` deliveries due; returns (secret, endpoint id)."""
    store = WebhookStore()
    user = uuid.uuid4()
    secret = generate_secret()
    async with pool.acquire() as conn:
        await store.create_secret(conn, user, BOX.seal(secret, user))
        endpoint = await store.insert_endpoint(
            conn,
            EndpointRecord(
                id=uuid.uuid4(),
                user_id=user,
                url=url,
                event_types=["execution.completed"],
                description="",
                enabled=True,
                disabled_reason=None,
                consecutive_failures=0,
                failing_since=None,
                created_at=NOW,
                updated_at=NOW,
            ),
        )
        for n in range(count):
            await store.enqueue(
                conn,
                user_id=user,
                event_type="execution.completed",
                execution_id=uuid.uuid4(),
                body=f'{{"type":"execution.completed","n":{n}}}',
                message_id=new_message_id(),
            )
    return secret, endpoint.id


async def states(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    rows = await pool.fetch("SELECT state, attempts FROM webhook_deliveries ORDER BY created_at")
    return [(r["state"], r["attempts"]) for r in rows]


async def run_until(d: WebhookDispatcher, stop: asyncio.Event) -> None:
    await d.run(stop, lambda: None)


async def test_a_sender_dying_mid_attempt_leaves_the_delivery_to_the_next(
    pool: asyncpg.Pool, receiver: Receiver
) -> None:
    receiver.hold.add("slow")
    secret, _ = await queue(pool, receiver.url("slow"), 1)
    first_stop = asyncio.Event()
    first = asyncio.create_task(run_until(dispatcher(pool), first_stop))
    (sent,) = await receiver.wait_for(1, "slow")
    # The receiver has the request but no answer went back: the sender stops now, so its
    # attempt is cut off after the lease, before anything is written.
    first_stop.set()
    await asyncio.wait_for(first, 10)
    assert await states(pool) == [("pending", 0)]

    receiver.hold.clear()
    second_stop = asyncio.Event()
    second = asyncio.create_task(run_until(dispatcher(pool), second_stop))
    try:
        _, again = await receiver.wait_for(2, "slow")
        async with asyncio.timeout(10):
            while await states(pool) != [("delivered", 1)]:
                await asyncio.sleep(0.05)
    finally:
        second_stop.set()
        await asyncio.wait_for(second, 10)
    # The same message, so the receiver can drop the copy it saw first.
    assert again.message_id == sent.message_id
    assert again.body == sent.body
    assert again.verified(secret) == sent.verified(secret)


async def test_senders_side_by_side_send_each_delivery_once(
    pool: asyncpg.Pool, receiver: Receiver
) -> None:
    await queue(pool, receiver.url("many"), 60)
    stop = asyncio.Event()
    # Leases longer than any attempt here, so every second send would be a claiming bug (two
    # senders leasing one row), not a lease that ran out on a loaded machine.
    runs = [asyncio.create_task(run_until(dispatcher(pool, lease=30.0), stop)) for _ in range(2)]
    try:
        async with asyncio.timeout(20):
            while {s for s, _ in await states(pool)} != {"delivered"}:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*runs)
    ids = [d.message_id for d in receiver.received]
    assert len(ids) == 60
    assert len(set(ids)) == 60
    attempts = await pool.fetchval("SELECT count(*) FROM webhook_attempts")
    assert attempts == 60


async def test_one_users_slow_receiver_holds_only_its_share_of_the_senders(
    pool: asyncpg.Pool, receiver: Receiver
) -> None:
    receiver.hold.add("slow")
    await queue(pool, receiver.url("slow"), 6)
    await queue(pool, receiver.url("quick"), 1)
    stop = asyncio.Event()
    # Leases longer than the test: nothing is taken over while held.
    running = asyncio.create_task(run_until(dispatcher(pool, per_user=2, lease=30.0), stop))
    try:
        (quick,) = await receiver.wait_for(1, "quick")
        await asyncio.sleep(0.5)  # a few more polls: still only two of the slow ones
        assert len([r for r in receiver.received if r.path == "slow"]) == 2
        assert quick.path == "quick"
    finally:
        receiver.release.set()
        stop.set()
        await asyncio.wait_for(running, 20)


async def test_a_secret_that_does_not_open_sends_nothing(
    pool: asyncpg.Pool, receiver: Receiver
) -> None:
    stored = await queue(pool, receiver.url("sealed"), 1)
    assert stored[0] not in str(await pool.fetchval("SELECT secret FROM webhook_secrets"))
    stop = asyncio.Event()
    other_key = SecretBox(parse_key(generate_key()))
    running = asyncio.create_task(run_until(dispatcher(pool, box=other_key), stop))
    try:
        async with asyncio.timeout(10):
            while await states(pool) != [("failed", 1)]:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert receiver.received == []
    error = await pool.fetchval("SELECT error FROM webhook_attempts")
    assert error == "no signing secret"
