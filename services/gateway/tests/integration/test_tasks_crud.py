"""Task CRUD through the gateway: fields, defaults, updates, deletes and the running guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

Headers = dict[str, str]
MakeTask = Callable[..., Awaitable[dict[str, Any]]]
TASKS = "/api/v1/tasks"


async def test_create_with_defaults_then_read(
    client: httpx.AsyncClient, alice: Headers, make_task: MakeTask
) -> None:
    task = await make_task(alice, name="nightly report")
    assert task["status"] == "pending"
    assert task["priority"] == 5
    assert task["timeout_seconds"] == 300
    assert task["metadata"] == {}
    assert task["env"] == {}
    assert task["memory_limit_mb"] == 256
    assert task["cpu_limit"] == 1.0
    assert task["max_output_bytes"] == 1_048_576
    assert "description" not in task
    assert "stdin" not in task
    assert task["created_at"].endswith("Z")
    got = await client.get(f"{TASKS}/{task['id']}", headers=alice)
    assert got.status_code == 200
    assert got.json() == task


async def test_every_field_round_trips(
    client: httpx.AsyncClient, alice: Headers, make_task: MakeTask
) -> None:
    fields: dict[str, Any] = {
        "name": "etl-amount",
        "description": "counts the amount of mounts",  # no substring blocklist
        "script_content": "import os\nprint(os.environ['MODE'])",
        "script_type": "bash",
        "priority": 10,
        "timeout_seconds": 3600,
        "metadata": {"team": "data", "tags": ["a", "b"], "n": 1.5, "deep": {"x": None}},
        "stdin": "line one\nline two\x00 with NUL",
        "env": {"MODE": "fast", "_X1": ""},
        "memory_limit_mb": 512,
        "cpu_limit": 0.5,
        "max_output_bytes": 4096,
    }
    task = await make_task(alice, **fields)
    for key, value in fields.items():
        assert task[key] == value, key


async def test_update_semantics(
    client: httpx.AsyncClient, alice: Headers, make_task: MakeTask
) -> None:
    task = await make_task(alice, description="old", stdin="in")
    url = f"{TASKS}/{task['id']}"
    noop = await client.put(url, json={}, headers=alice)
    assert noop.status_code == 200
    assert noop.json() == task  # not even updated_at moves
    changed = await client.put(
        url, json={"priority": 1, "description": None, "stdin": None, "env": {"A": "1"}},
        headers=alice,
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["priority"] == 1
    assert "description" not in body
    assert "stdin" not in body
    assert body["env"] == {"A": "1"}
    assert body["name"] == task["name"]
    assert body["updated_at"] > task["updated_at"]
    bad = await client.put(url, json={"name": None}, headers=alice)
    assert bad.status_code == 400
    assert bad.json()["validation_errors"][0]["field"] == "name"


async def test_running_task_cannot_be_updated_or_deleted(
    client: httpx.AsyncClient, alice: Headers, make_task: MakeTask
) -> None:
    task = await make_task(alice)
    url = f"{TASKS}/{task['id']}"
    started = await client.post(f"{url}/executions", headers=alice)
    assert started.status_code == 201, started.text
    assert (await client.get(url, headers=alice)).json()["status"] == "running"
    upd = await client.put(url, json={"priority": 2}, headers=alice)
    assert (upd.status_code, upd.json()) == (409, {"error": "Cannot update running task"})
    dele = await client.delete(url, headers=alice)
    assert (dele.status_code, dele.json()) == (409, {"error": "Cannot delete running task"})
    cancel = await client.delete(f"/api/v1/executions/{started.json()['id']}", headers=alice)
    assert cancel.status_code == 200
    assert (await client.get(url, headers=alice)).json()["status"] == "cancelled"
    gone = await client.delete(url, headers=alice)
    assert gone.status_code == 200
    assert gone.json() == {"message": "Task deleted successfully"}
    assert (await client.get(url, headers=alice)).status_code == 404


async def test_operator_caps_and_runtimes_come_back_as_field_errors(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    body = {
        "name": "x",
        "script_content": "x",
        "script_type": "cobol",
        "memory_limit_mb": 999_999,
        "cpu_limit": 64.0,
        "max_output_bytes": 1 << 30,
    }
    resp = await client.post(TASKS, json=body, headers=alice)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "Validation failed"
    fields = {e["field"]: e for e in resp.json()["validation_errors"]}
    assert set(fields) == {"script_type", "memory_limit_mb", "cpu_limit", "max_output_bytes"}
    assert fields["script_type"]["tag"] == "oneof"
    assert "operator cap" in fields["memory_limit_mb"]["message"]
    listed = await client.get(TASKS, headers=alice)
    assert listed.json()["total"] == 0  # nothing partially written
