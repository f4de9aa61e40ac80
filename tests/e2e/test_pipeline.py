"""Executions end to end through the public API: gateway → tasks → outbox → scheduler → NATS →
executor (real bwrap sandboxes) → results, live logs over SSE, cancel, limits, runtimes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.e2e.sse import Event, events

pytestmark = pytest.mark.sandbox

PASSWORD = "Sup3r-secret!"


async def login(client: httpx.AsyncClient, email: str = "run@example.com") -> dict[str, str]:
    resp = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Runner"}
    )
    assert resp.status_code == 201, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


async def create_task(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    script: str,
    script_type: str = "python",
    **extra: Any,
) -> str:
    body = {
        "name": f"{script_type} task",
        "script_type": script_type,
        "script_content": script,
        **extra,
    }
    resp = await client.post("/api/v1/tasks", json=body, headers=auth)
    assert resp.status_code == 201, resp.text
    task_id: str = resp.json()["id"]
    return task_id


async def run(
    client: httpx.AsyncClient, auth: dict[str, str], task_id: str, wait: int = 30
) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/tasks/{task_id}/executions?wait={wait}", headers=auth)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


TICKS = 6
# Long enough (3 s) that both viewers are connected while it still runs, even on a busy machine.
TICKER = (
    f"import time\nfor i in range({TICKS}):\n"
    "    print('tick', i, flush=True)\n    time.sleep(0.5)\n"
)


async def test_live_logs_arrive_as_produced_then_the_result(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    task_id = await create_task(client, auth, TICKER)
    started = await client.post(f"/api/v1/tasks/{task_id}/executions", headers=auth)
    assert started.status_code == 201
    execution = started.json()
    assert execution["status"] == "pending"
    url = f"/api/v1/executions/{execution['id']}/logs"

    async def watch() -> list[Event]:
        return [e async for e in events(client, url, auth)]

    first, second = await asyncio.gather(watch(), watch())  # several viewers at once
    for seen in (first, second):
        lines = [e for e in seen if e.name == "stdout"]
        assert "".join(e.data["text"] for e in lines) == "".join(
            f"tick {i}\n" for i in range(TICKS)
        )
        assert len(lines) >= 3, "output arrived in one piece: not live"
        assert lines[-1].received_at - lines[0].received_at > 1.0
        assert seen[-1].name == "end"
        assert seen[-1].data == {
            "status": "completed",
            "return_code": 0,
            "termination_reason": "exit",
            "attempt": 1,
            "seq": len(lines) + 1,
        }
        # Every event, live or not, names its attempt and place: "<attempt>:<seq>".
        assert [e.id for e in seen] == [f"1:{n}" for n in range(1, len(seen) + 1)]
        assert all(e.data["attempt"] == 1 and e.data["seq"] == n for n, e in enumerate(seen, 1))

    final = (await client.get(f"/api/v1/executions/{execution['id']}", headers=auth)).json()
    assert final["status"] == "completed"
    assert final["return_code"] == 0
    assert final["stdout"] == "".join(f"tick {i}\n" for i in range(TICKS))
    assert final["execution_time_ms"] >= 2500
    assert final["memory_usage_bytes"] > 1024 * 1024
    assert final["started_at"]
    assert final["completed_at"]
    task = (await client.get(f"/api/v1/tasks/{task_id}", headers=auth)).json()
    assert task["status"] == "completed"

    # Replay of a finished execution: the very events live viewers saw (same ids, same bytes),
    # then the same end; another user gets 404.
    replay = [e async for e in events(client, url, auth)]
    assert [(e.id, e.name, e.data) for e in replay] == [(e.id, e.name, e.data) for e in first]
    # Resuming after an event skips what the viewer has, without gaps.
    resumed = [e async for e in events(client, url, {**auth, "Last-Event-ID": first[1].id})]
    assert [e.id for e in resumed] == [e.id for e in first[2:]]
    other = await login(client, "other@example.com")
    assert (await client.get(url, headers=other)).status_code == 404


@pytest.mark.parametrize(
    ("script_type", "script", "stdout"),
    [
        ("javascript", "console.log('hello from', 'node')", "hello from node\n"),
        ("bash", 'echo "hello from $0" | sed \'s/main.sh/bash/\'\nread x; echo "stdin=$x"', None),
        (
            "go",
            'package main\nimport "fmt"\nfunc main() { fmt.Println("hello from go") }\n',
            "hello from go\n",
        ),
    ],
)
async def test_every_language_runs(
    client: httpx.AsyncClient, pipeline: object, script_type: str, script: str, stdout: str | None
) -> None:
    auth = await login(client)
    task_id = await create_task(client, auth, script, script_type, stdin="piped\n")
    result = await run(client, auth, task_id, wait=60)
    why = {k: result.get(k) for k in ("termination_reason", "termination_detail", "stderr")}
    assert result["status"] == "completed", why
    if stdout is not None:
        assert result["stdout"] == stdout
    else:
        assert result["stdout"].endswith("stdin=piped\n")


async def test_failures_timeouts_and_memory_limits(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    failing = await run(
        client,
        auth,
        await create_task(client, auth, "import sys\nprint('bad', file=sys.stderr)\nsys.exit(3)"),
    )
    assert failing["status"] == "failed"
    assert failing["return_code"] == 3
    assert failing["stderr"] == "bad\n"
    slow = await create_task(client, auth, "import time\ntime.sleep(30)", timeout_seconds=1)
    timed_out = await run(client, auth, slow)
    assert timed_out["status"] == "timeout"
    assert timed_out["termination_reason"] == "timeout"
    hog = await create_task(
        client, auth, "x = bytearray(200 * 1024 * 1024)\nprint(len(x))", memory_limit_mb=64
    )
    oom = await run(client, auth, hog)
    assert oom["status"] == "failed"
    assert oom["termination_reason"] == "memory_limit"
    # A finished task runs again.
    again = await run(client, auth, slow)
    assert again["status"] == "timeout"


async def test_cancel_stops_a_running_execution_within_a_second(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    task_id = await create_task(
        client, auth, "import time\nprint('up', flush=True)\ntime.sleep(60)", timeout_seconds=120
    )
    execution = (await client.post(f"/api/v1/tasks/{task_id}/executions", headers=auth)).json()
    url = f"/api/v1/executions/{execution['id']}"
    async for event in events(client, f"{url}/logs", auth):
        if event.name == "stdout":
            break  # it is running
    sent = time.monotonic()
    resp = await client.delete(url, headers=auth)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"message": "Execution cancelled successfully"}
    assert (await client.get(url, headers=auth)).json()["status"] == "cancelled"
    # The sandbox really stopped: the executor is free again within a second.
    while pipeline.consumer.running:  # type: ignore[attr-defined]
        assert time.monotonic() - sent < 1.0, "the sandbox kept running after cancel"
        await asyncio.sleep(0.02)
    again = await client.delete(url, headers=auth)
    assert again.status_code == 409
    assert again.json() == {"error": "cannot cancel execution with status: cancelled"}


async def test_runtimes_lists_what_executors_offer(
    client: httpx.AsyncClient, pipeline: object
) -> None:
    auth = await login(client)
    body = (await client.get("/api/v1/runtimes", headers=auth)).json()
    by_name = {r["name"]: r for r in body["runtimes"]}
    assert set(by_name) >= {"python", "javascript", "bash", "go"}
    python = by_name["python"]
    assert python["available"] is True
    assert python["version"].startswith("3.")
    assert (await client.get("/api/v1/runtimes")).status_code == 401
    # What /runtimes advertises is exactly what a task that leaves its limits out gets.
    fields = ("timeout_seconds", "memory_limit_mb", "cpu_limit", "max_output_bytes")
    for name, runtime in by_name.items():
        resp = await client.post(
            "/api/v1/tasks",
            json={"name": f"defaults {name}", "script_type": name, "script_content": "x"},
            headers=auth,
        )
        assert resp.status_code == 201, resp.text
        task = resp.json()
        assert {f: task[f] for f in fields} == runtime["default_limits"], name
        assert set(runtime["max_limits"]) == set(fields)
        for field in fields:
            assert runtime["default_limits"][field] <= runtime["max_limits"][field]
        # and one unit over a cap is refused, naming the field
        over = {"memory_limit_mb": runtime["max_limits"]["memory_limit_mb"] + 1}
        body = {"name": "over", "script_type": name, "script_content": "x", **over}
        refused = await client.post("/api/v1/tasks", json=body, headers=auth)
        assert refused.status_code == 400
        assert [e["field"] for e in refused.json()["validation_errors"]] == ["memory_limit_mb"]
