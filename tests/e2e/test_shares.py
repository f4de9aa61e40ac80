"""Sharing tasks end to end through the public API (issue 18, items 5 and 6).

An owner shares a task by email as `viewer` or `runner`; the shares' own routes and inputs, what
a non-owner sees, the lists, revocation (also of an open log stream, timed), the shares going
with their task, and runs charged to whoever starts them (rate limit and concurrency slot). The
sweep of every route by every role itself is in tests/hardening/test_idor.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.sse import Event, events
from tests.hardening.users import API, PASSWORD, User, create_task, sign_up

NOT_FOUND = {"error": "Task not found"}
DENIED = {"error": "Access denied"}


@pytest.fixture
def tasks_settings_overrides() -> dict[str, Any]:
    # A callback URL on loopback, never called here (no run of that task finishes).
    return {"webhook_allow_http": True, "webhook_allow_list": ["127.0.0.1/32"]}


@pytest.fixture
def scheduler_settings_overrides() -> dict[str, Any]:
    # One run at a time per user: a run counted against the wrong user would wait in the queue.
    return {"per_user_concurrency": 1}


async def share(
    client: httpx.AsyncClient, owner: User, task_id: str, email: str, role: str
) -> httpx.Response:
    return await client.post(
        f"{API}/tasks/{task_id}/shares", json={"email": email, "role": role}, headers=owner.auth
    )


async def unshare(
    client: httpx.AsyncClient, caller: User, task_id: str, email: str
) -> httpx.Response:
    return await client.delete(
        f"{API}/tasks/{task_id}/shares", params={"email": email}, headers=caller.auth
    )


def fields_of(resp: httpx.Response) -> list[str]:
    return [v["field"] for v in resp.json().get("validation_errors", [])]


async def test_share_inputs_roles_and_no_account_oracle(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client, "owner")
    task = await create_task(client, owner)
    known = await sign_up(client, "known")
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"

    first = await share(client, owner, task["id"], known.email.upper(), "viewer")
    ghost = await share(client, owner, task["id"], unknown, "viewer")
    # The same answer for an account and for none: status, shape, headers that matter.
    assert (first.status_code, ghost.status_code) == (201, 201), (first.text, ghost.text)
    assert set(first.json()) == set(ghost.json()) == {"email", "role", "created_at", "updated_at"}
    assert first.json()["email"] == known.email.lower()
    assert first.headers["location"] == ghost.headers["location"]
    assert known.id not in first.text

    # Sharing again changes the role: 200, idempotent.
    again = await share(client, owner, task["id"], known.email, "runner")
    assert (again.status_code, again.json()["role"]) == (200, "runner")
    same = await share(client, owner, task["id"], known.email, "runner")
    assert (same.status_code, same.json()) == (200, again.json())

    for body, field in (
        ({"email": owner.email, "role": "viewer"}, "email"),  # oneself
        ({"email": owner.email.upper(), "role": "runner"}, "email"),
        ({"email": "not-an-address", "role": "viewer"}, "email"),
        ({"email": known.email, "role": "owner"}, "role"),
        ({"email": known.email, "role": ""}, "role"),
        ({"role": "viewer"}, "email"),
        ({"email": known.email}, "role"),
    ):
        bad = await client.post(f"{API}/tasks/{task['id']}/shares", json=body, headers=owner.auth)
        assert bad.status_code == 400, (body, bad.text)
        assert bad.json()["error"] == "Validation failed", bad.text
        assert field in fields_of(bad), (body, bad.text)

    listed = await client.get(f"{API}/tasks/{task['id']}/shares", headers=owner.auth)
    assert listed.status_code == 200
    assert [(s["email"], s["role"]) for s in listed.json()["shares"]] == [
        (known.email.lower(), "runner"),
        (unknown, "viewer"),
    ]
    missing = await unshare(client, owner, task["id"], "someone-else@example.com")
    assert (missing.status_code, missing.json()) == (404, {"error": "Share not found"})
    malformed = await unshare(client, owner, task["id"], "nope")
    assert malformed.status_code == 400
    assert "email" in malformed.json()["error"]
    gone = await unshare(client, owner, task["id"], unknown.upper())
    assert (gone.status_code, gone.json()) == (200, {"message": "Share removed successfully"})

    # A share to an email with no account takes effect when that email registers.
    await share(client, owner, task["id"], unknown, "viewer")
    resp = await client.post(
        f"{API}/auth/register", json={"email": unknown, "password": PASSWORD, "name": "late"}
    )
    assert resp.status_code == 201
    late = {"Authorization": f"Bearer {resp.json()['access_token']}"}
    seen = await client.get(f"{API}/tasks/{task['id']}", headers=late)
    assert (seen.status_code, seen.json()["shared_role"]) == (200, "viewer")


async def test_non_owners_see_neither_env_values_nor_hidden_cases_nor_callbacks(
    client: httpx.AsyncClient,
) -> None:
    owner, viewer = await sign_up(client, "owner"), await sign_up(client, "viewer")
    cases = [
        {"name": "open", "stdin": "1", "expected_stdout": "1"},
        {"name": "secret", "stdin": "42", "expected_stdout": "s3cr3t-answer", "hidden": True},
    ]
    hook = "http://127.0.0.1:9999/s3cr3t-hook"
    task = await create_task(
        client, owner, env={"TOKEN": "s3cr3t-env"}, test_cases=cases, callback_url=hook
    )
    assert (await share(client, owner, task["id"], viewer.email, "viewer")).status_code == 201

    mine = (await client.get(f"{API}/tasks/{task['id']}", headers=owner.auth)).json()
    assert mine["env"] == {"TOKEN": "s3cr3t-env"}
    assert "shared_role" not in mine
    assert mine["test_cases"][1]["expected_stdout"] == "s3cr3t-answer"
    assert mine["callback_url"] == hook
    for resp in (
        await client.get(f"{API}/tasks/{task['id']}", headers=viewer.auth),
        await client.get(f"{API}/tasks", params={"shared": "with_me"}, headers=viewer.auth),
    ):
        assert resp.status_code == 200, resp.text
        assert "s3cr3t" not in resp.text
    theirs = (await client.get(f"{API}/tasks/{task['id']}", headers=viewer.auth)).json()
    assert theirs["shared_role"] == "viewer"
    assert "env" not in theirs
    assert "callback_url" not in theirs
    assert "webhook_secret" not in theirs
    assert theirs["test_cases"][1] == {"name": "secret", "hidden": True}
    assert theirs["test_cases"][0]["expected_stdout"] == "1"


async def test_lists_shared_with_me_and_executions_started_on_shared_tasks(
    client: httpx.AsyncClient,
) -> None:
    owner, runner = await sign_up(client, "owner"), await sign_up(client, "runner")
    tasks = [await create_task(client, owner, name=f"shared {i}") for i in range(3)]
    private = await create_task(client, owner, name="private")
    own = await create_task(client, runner, name="runner own")
    for t in tasks:
        assert (await share(client, owner, t["id"], runner.email, "runner")).status_code == 201

    # The default list stays the caller's own tasks; shared=with_me lists the others', paged.
    plain = await client.get(f"{API}/tasks", headers=runner.auth)
    assert [t["id"] for t in plain.json()["tasks"]] == [own["id"]]
    seen: list[str] = []
    cursor = None
    cursors: list[str] = []
    for _ in range(3):
        params = {"shared": "with_me", "limit": "2", "sort_field": "name", "sort_order": "asc"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"{API}/tasks", params=params, headers=runner.auth)).json()
        seen += [t["id"] for t in page["tasks"]]
        assert all(t["shared_role"] == "runner" for t in page["tasks"])
        cursor = page["pagination"].get("next_cursor")
        if not cursor:
            break
        cursors.append(cursor)
    assert seen == [t["id"] for t in tasks]
    assert private["id"] not in seen
    total = await client.get(f"{API}/tasks", params={"shared": "with_me"}, headers=runner.auth)
    assert total.json()["total"] == 3
    bad = await client.get(f"{API}/tasks", params={"shared": "by_me"}, headers=runner.auth)
    assert bad.status_code == 400
    assert "shared" in bad.json()["error"]
    # A cursor of one list does not continue the other.
    mixed = await client.get(f"{API}/tasks", params={"cursor": cursors[0]}, headers=runner.auth)
    assert (mixed.status_code, mixed.json()) == (400, {"error": "Invalid cursor"})

    started = await client.post(f"{API}/tasks/{tasks[0]['id']}/executions", headers=runner.auth)
    assert started.status_code == 201, started.text
    execution = started.json()
    assert execution["started_by"] == runner.id
    by_owner = await client.post(f"{API}/tasks/{tasks[1]['id']}/executions", headers=owner.auth)
    assert by_owner.json()["started_by"] == owner.id

    listed = (await client.get(f"{API}/executions", headers=runner.auth)).json()
    assert [e["id"] for e in listed["executions"]] == [execution["id"]]
    assert listed["total"] == 1
    owners = (await client.get(f"{API}/executions", headers=owner.auth)).json()
    assert {e["id"] for e in owners["executions"]} == {execution["id"], by_owner.json()["id"]}
    # The task's own list has every execution, whoever started it.
    of_task = await client.get(f"{API}/tasks/{tasks[1]['id']}/executions", headers=runner.auth)
    assert [e["id"] for e in of_task.json()["executions"]] == [by_owner.json()["id"]]

    # Revoked: the runner's list drops what they started there, and the task is a 404.
    assert (await unshare(client, owner, tasks[0]["id"], runner.email)).status_code == 200
    after = (await client.get(f"{API}/executions", headers=runner.auth)).json()
    assert after["executions"] == []
    assert after["total"] == 0
    again = await client.get(f"{API}/executions/{execution['id']}", headers=runner.auth)
    assert (again.status_code, again.json()) == (404, {"error": "Execution not found"})


async def test_a_user_leaves_a_task_shared_with_them_and_only_their_own_share(
    client: httpx.AsyncClient,
) -> None:
    owner, viewer = await sign_up(client, "owner"), await sign_up(client, "viewer")
    runner, stranger = await sign_up(client, "runner"), await sign_up(client, "stranger")
    task = await create_task(client, owner)
    for user, role in ((viewer, "viewer"), (runner, "runner")):
        assert (await share(client, owner, task["id"], user.email, role)).status_code == 201

    # Another user's share is the owner's to revoke: the runner may not drop the viewer.
    other = await unshare(client, runner, task["id"], viewer.email)
    assert (other.status_code, other.json()) == (403, DENIED)
    # A stranger learns nothing, even naming their own email.
    mine = await unshare(client, stranger, task["id"], stranger.email)
    assert (mine.status_code, mine.json()) == (404, NOT_FOUND)

    # The viewer leaves, naming their own email (in any case): the task is gone for them.
    left = await unshare(client, viewer, task["id"], viewer.email.upper())
    assert (left.status_code, left.json()) == (200, {"message": "Share removed successfully"})
    gone = await client.get(f"{API}/tasks/{task['id']}", headers=viewer.auth)
    assert (gone.status_code, gone.json()) == (404, NOT_FOUND)
    listed = await client.get(f"{API}/tasks", params={"shared": "with_me"}, headers=viewer.auth)
    assert listed.json()["tasks"] == []
    twice = await unshare(client, viewer, task["id"], viewer.email)
    assert (twice.status_code, twice.json()) == (404, NOT_FOUND)
    shares = await client.get(f"{API}/tasks/{task['id']}/shares", headers=owner.auth)
    assert [s["email"] for s in shares.json()["shares"]] == [runner.email.lower()]
    # The owner's own email names no share.
    own = await unshare(client, owner, task["id"], owner.email)
    assert (own.status_code, own.json()) == (404, {"error": "Share not found"})


async def test_deleting_a_task_deletes_its_shares(
    client: httpx.AsyncClient, database_url: str
) -> None:
    owner, viewer = await sign_up(client, "owner"), await sign_up(client, "viewer")
    task = await create_task(client, owner)
    assert (await share(client, owner, task["id"], viewer.email, "viewer")).status_code == 201
    assert (
        await share(client, owner, task["id"], "ghost@example.com", "runner")
    ).status_code == 201
    conn = await asyncpg.connect(database_url)
    try:
        count = "SELECT count(*) FROM task_shares WHERE task_id = $1"
        assert await conn.fetchval(count, uuid.UUID(task["id"])) == 2
        deleted = await client.delete(f"{API}/tasks/{task['id']}", headers=owner.auth)
        assert deleted.status_code == 200
        assert await conn.fetchval(count, uuid.UUID(task["id"])) == 0
    finally:
        await conn.close()
    shared = await client.get(f"{API}/tasks", params={"shared": "with_me"}, headers=viewer.auth)
    assert shared.json()["tasks"] == []


async def test_a_runners_start_counts_against_the_runners_rate_limit(
    client: httpx.AsyncClient,
) -> None:
    owner, runner = await sign_up(client, "owner"), await sign_up(client, "runner")
    task = await create_task(client, owner)
    other = await create_task(client, owner)
    assert (await share(client, owner, task["id"], runner.email, "runner")).status_code == 201

    first = await client.post(f"{API}/tasks/{task['id']}/executions", headers=runner.auth)
    assert first.status_code == 201, first.text
    limit = int(first.headers["ratelimit-limit"])
    assert int(first.headers["ratelimit-remaining"]) == limit - 1
    # The owner's first start of the hour: nothing of theirs was spent by the runner's start.
    mine = await client.post(f"{API}/tasks/{other['id']}/executions", headers=owner.auth)
    assert mine.status_code == 201
    assert int(mine.headers["ratelimit-remaining"]) == limit - 1


# -- with the pipeline (real sandboxes) --------------------------------------------------------

TICKER = (
    "import time\nfor i in range(40):\n    print('tick', i, flush=True)\n    time.sleep(0.25)\n"
)


@pytest.mark.sandbox
async def test_revoking_a_share_ends_the_viewers_log_stream_within_a_second(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    owner, viewer = await sign_up(client, "owner"), await sign_up(client, "viewer")
    task = await create_task(client, owner, script_content=TICKER, timeout_seconds=60)
    assert (await share(client, owner, task["id"], viewer.email, "viewer")).status_code == 201
    started = await client.post(f"{API}/tasks/{task['id']}/executions", headers=owner.auth)
    execution = started.json()
    url = f"{API}/executions/{execution['id']}/logs"
    # The viewer watches through a stream token (the browser's way): it carries their email.
    token = await client.post(f"{url}/token", headers=viewer.auth)
    assert token.status_code == 200, token.text
    seen: list[Event] = []
    revoked_at: list[float] = []
    ended: list[float] = []

    async def watch_as_viewer() -> None:
        async for event in events(client, f"{url}?stream_token={token.json()['stream_token']}", {}):
            seen.append(event)
            if event.name == "stdout" and not revoked_at:
                resp = await unshare(client, owner, task["id"], viewer.email)
                assert resp.status_code == 200
                revoked_at.append(time.monotonic())
        ended.append(time.monotonic())

    owners: list[Event] = []

    async def watch_as_owner() -> None:
        async for event in events(client, url, owner.auth):
            owners.append(event)
            if len(owners) >= 12:
                return

    await asyncio.wait_for(asyncio.gather(watch_as_viewer(), watch_as_owner()), 30)
    assert revoked_at, [e.name for e in seen]
    assert seen[-1].name == "error"
    assert seen[-1].data == {"error": "Execution not found"}
    # Measured from the revocation's answer to the stream's end, as the viewer saw both.
    assert ended[0] - revoked_at[0] < 1.0, ended[0] - revoked_at[0]
    # The owner's stream went on meanwhile.
    assert len([e for e in owners if e.name == "stdout"]) >= 12
    gone = await client.get(url, headers=viewer.auth)
    assert gone.status_code == 404
    await client.delete(f"{API}/executions/{execution['id']}", headers=owner.auth)


@pytest.mark.sandbox
async def test_a_runners_run_takes_the_runners_concurrency_slot(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    owner, runner = await sign_up(client, "owner"), await sign_up(client, "runner")
    slow = await create_task(
        client, owner, script_content="import time\ntime.sleep(20)", timeout_seconds=60
    )
    quick = await create_task(client, owner, script_content="print('quick')")
    assert (await share(client, owner, quick["id"], runner.email, "runner")).status_code == 201
    busy = (await client.post(f"{API}/tasks/{slow['id']}/executions", headers=owner.auth)).json()
    deadline = time.monotonic() + 15
    while (await client.get(f"{API}/executions/{busy['id']}", headers=owner.auth)).json()[
        "status"
    ] != "running":
        assert time.monotonic() < deadline, "the owner's run never started"
        await asyncio.sleep(0.1)

    # The owner's one slot is taken; the runner's start of the owner's task runs at once.
    ran = await client.post(f"{API}/tasks/{quick['id']}/executions?wait=15", headers=runner.auth)
    assert ran.status_code == 201, ran.text
    assert (ran.json()["status"], ran.json()["started_by"]) == ("completed", runner.id)
    still = (await client.get(f"{API}/executions/{busy['id']}", headers=owner.auth)).json()
    assert still["status"] == "running"

    # Whereas the owner's own second run waits for their slot.
    queued = await client.post(f"{API}/tasks/{quick['id']}/executions?wait=2", headers=owner.auth)
    assert queued.json()["status"] == "pending"
    for e in (busy, queued.json()):
        await client.delete(f"{API}/executions/{e['id']}", headers=owner.auth)


async def test_a_task_is_shared_with_at_most_a_hundred_emails(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client, "owner")
    task = await create_task(client, owner)
    for i in range(100):
        resp = await share(client, owner, task["id"], f"u{i}@example.com", "viewer")
        assert resp.status_code == 201, resp.text
    over = await share(client, owner, task["id"], "one-more@example.com", "viewer")
    assert (over.status_code, over.json()) == (
        409,
        {"error": "A task can be shared with at most 100 users"},
    )
    # Changing an existing share's role is not a new share.
    assert (await share(client, owner, task["id"], "u7@example.com", "runner")).status_code == 200
    listed = await client.get(f"{API}/tasks/{task['id']}/shares", headers=owner.auth)
    assert len(listed.json()["shares"]) == 100
