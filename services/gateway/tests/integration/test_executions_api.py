"""Executions through the gateway: start, idempotency, concurrency, cancel, the state machine."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

Headers = dict[str, str]
MakeTask = Callable[..., Awaitable[dict[str, Any]]]
EXEC = "/api/v1/executions"


def _start_url(task: dict[str, Any]) -> str:
    return f"/api/v1/tasks/{task['id']}/executions"


async def test_start_get_list_and_run_again(
    client: httpx.AsyncClient, alice: Headers, admin: Headers, make_task: MakeTask
) -> None:
    task = await make_task(alice)
    first = await client.post(_start_url(task), headers=alice)
    assert first.status_code == 201, first.text
    execution = first.json()
    assert execution["status"] == "pending"
    assert execution["task_id"] == task["id"]
    assert execution["attempt"] == 1
    for unset in ("return_code", "stdout", "started_at", "completed_at", "termination_reason"):
        assert unset not in execution
    again = await client.post(_start_url(task), headers=alice)
    assert (again.status_code, again.json()) == (409, {"error": "Task is already running"})
    got = await client.get(f"{EXEC}/{execution['id']}", headers=alice)
    assert got.json() == execution

    # Finish it (as a service would), then the task may run again.
    url = f"{EXEC}/{execution['id']}"
    assert (await client.put(url, json={"status": "running"}, headers=admin)).status_code == 200
    done = await client.put(
        url,
        json={"status": "completed", "return_code": 0, "stdout": "hi\n", "execution_time_ms": 12},
        headers=admin,
    )
    assert done.status_code == 200, done.text
    assert done.json()["termination_reason"] == "exit"
    task_now = (await client.get(f"/api/v1/tasks/{task['id']}", headers=alice)).json()
    assert task_now["status"] == "completed"
    second = await client.post(_start_url(task), headers=alice)
    assert second.status_code == 201

    listed = (await client.get(_start_url(task), headers=alice)).json()
    assert [e["id"] for e in listed["executions"]] == [second.json()["id"], execution["id"]]
    assert (listed["total"], listed["limit"], listed["offset"]) == (2, 20, 0)
    paged = (await client.get(_start_url(task), params={"limit": 1}, headers=alice)).json()
    assert paged["pagination"]["has_more"] is True
    rest = await client.get(
        _start_url(task), params={"cursor": paged["pagination"]["next_cursor"]}, headers=alice
    )
    assert [e["id"] for e in rest.json()["executions"]] == [execution["id"]]
    assert rest.json()["pagination"] == {"has_more": False}


async def test_concurrent_starts_give_one_execution(
    client: httpx.AsyncClient, alice: Headers, make_task: MakeTask, database_url: str
) -> None:
    for _ in range(3):
        task = await make_task(alice)
        results = await asyncio.gather(
            client.post(_start_url(task), headers=alice),
            client.post(_start_url(task), headers=alice),
        )
        assert sorted(r.status_code for r in results) == [201, 409]
    conn = await asyncpg.connect(database_url)
    try:
        per_task = await conn.fetch("SELECT task_id, count(*) FROM executions GROUP BY task_id")
        outbox = await conn.fetchval("SELECT count(*) FROM execution_outbox")
    finally:
        await conn.close()
    assert [r["count"] for r in per_task] == [1, 1, 1]
    assert outbox == 3


async def test_idempotent_start(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, make_task: MakeTask
) -> None:
    task = await make_task(alice)
    key = {"Idempotency-Key": "start-7f3a"}
    first = await client.post(_start_url(task), headers={**alice, **key})
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    retries = await asyncio.gather(
        *(client.post(_start_url(task), headers={**alice, **key}) for _ in range(3))
    )
    for retry in retries:
        assert retry.status_code == 200
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json()["id"] == first.json()["id"]
    other_key = await client.post(_start_url(task), headers={**alice, "Idempotency-Key": "b"})
    assert other_key.status_code == 409
    foreign = await client.post(_start_url(task), headers={**bob, **key})
    assert (foreign.status_code, foreign.json()) == (404, {"error": "Task not found"})
    bad = await client.post(_start_url(task), headers={**alice, "Idempotency-Key": "x" * 256})
    assert bad.status_code == 400
    assert bad.json()["validation_errors"][0]["field"] == "Idempotency-Key"


async def test_cancel(
    client: httpx.AsyncClient, alice: Headers, admin: Headers, make_task: MakeTask
) -> None:
    pending = (await client.post(_start_url(await make_task(alice)), headers=alice)).json()
    out = await client.delete(f"{EXEC}/{pending['id']}", headers=alice)
    assert (out.status_code, out.json()) == (200, {"message": "Execution cancelled successfully"})
    cancelled = (await client.get(f"{EXEC}/{pending['id']}", headers=alice)).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["termination_reason"] == "cancelled"
    assert "completed_at" in cancelled
    twice = await client.delete(f"{EXEC}/{pending['id']}", headers=alice)
    assert (twice.status_code, twice.json()) == (
        409,
        {"error": "cannot cancel execution with status: cancelled"},
    )
    running = (await client.post(_start_url(await make_task(alice)), headers=alice)).json()
    url = f"{EXEC}/{running['id']}"
    assert (await client.put(url, json={"status": "running"}, headers=admin)).status_code == 200
    assert (await client.delete(url, headers=alice)).status_code == 200
    late = await client.put(url, json={"status": "completed", "return_code": 0}, headers=admin)
    assert (late.status_code, late.json()) == (
        409,
        {"error": "cannot update execution with status: cancelled"},
    )


async def test_state_machine_through_put(
    client: httpx.AsyncClient, alice: Headers, admin: Headers, make_task: MakeTask
) -> None:
    task = await make_task(alice)
    execution = (await client.post(_start_url(task), headers=alice)).json()
    url = f"{EXEC}/{execution['id']}"
    user_put = await client.put(url, json={"status": "running"}, headers=alice)
    assert (user_put.status_code, user_put.json()) == (403, {"error": "Access denied"})
    user_bad_body = await client.put(url, json={"status": 5}, headers=alice)
    assert user_bad_body.status_code == 403  # the role is checked before the body
    skip = await client.put(url, json={"status": "completed"}, headers=admin)
    assert skip.status_code == 409
    assert skip.json() == {"error": "invalid status transition: pending -> completed"}
    bad = await client.put(url, json={"status": "exploded"}, headers=admin)
    assert bad.status_code == 400
    assert bad.json()["validation_errors"][0]["field"] == "status"
    running = await client.put(url, json={"status": "running"}, headers=admin)
    assert running.json()["status"] == "running"
    assert "started_at" in running.json()
    progress = await client.put(url, json={"stdout": "partial"}, headers=admin)
    assert progress.json()["stdout"] == "partial"
    wrong_code = await client.put(
        url, json={"status": "completed", "return_code": 3}, headers=admin
    )
    assert wrong_code.status_code == 400
    failed = await client.put(
        url,
        json={
            "status": "failed",
            "return_code": 3,
            "stderr": "boom\x00",
            "stderr_truncated": True,
            "memory_usage_bytes": 1024,
        },
        headers=admin,
    )
    assert failed.status_code == 200, failed.text
    body = failed.json()
    assert (body["status"], body["return_code"], body["stderr"]) == ("failed", 3, "boom\ufffd")
    assert body["stderr_truncated"] is True
    assert body["stdout"] == "partial"
    task_now = (await client.get(f"/api/v1/tasks/{task['id']}", headers=alice)).json()
    assert task_now["status"] == "failed"
    for change in ({"status": "running"}, {"status": "completed"}, {"stdout": "more"}):
        final = await client.put(url, json=change, headers=admin)
        assert final.status_code == 409, change
    missing = await client.put(f"{EXEC}/{task['id']}", json={}, headers=admin)
    assert (missing.status_code, missing.json()) == (404, {"error": "Execution not found"})


async def test_start_can_wait_for_the_final_state(
    client: httpx.AsyncClient, alice: Headers, admin: Headers, make_task: MakeTask
) -> None:
    task = await make_task(alice)
    too_long = await client.post(_start_url(task), params={"wait": "61"}, headers=alice)
    assert (too_long.status_code, too_long.json()) == (
        400,
        {"error": "wait must be between 0 and 60"},
    )

    async def finish_soon() -> None:
        await asyncio.sleep(0.3)
        listed = (await client.get(_start_url(task), headers=alice)).json()
        url = f"{EXEC}/{listed['executions'][0]['id']}"
        await client.put(url, json={"status": "running"}, headers=admin)
        await client.put(url, json={"status": "completed", "return_code": 0}, headers=admin)

    started, _ = await asyncio.gather(
        client.post(_start_url(task), params={"wait": "10"}, headers=alice), finish_soon()
    )
    assert started.status_code == 201
    assert started.json()["status"] == "completed"
    quick = await client.post(_start_url(task), params={"wait": "0"}, headers=alice)
    assert quick.json()["status"] == "pending"
