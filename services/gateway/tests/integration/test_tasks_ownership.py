"""Another user's task or execution is indistinguishable from a missing one, on every endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

Headers = dict[str, str]
MakeTask = Callable[..., Awaitable[dict[str, Any]]]


async def test_foreign_and_missing_look_the_same(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, make_task: MakeTask
) -> None:
    task = await make_task(alice, name="secret")
    execution = (await client.post(f"/api/v1/tasks/{task['id']}/executions", headers=alice)).json()
    missing_task, missing_execution = str(uuid.uuid4()), str(uuid.uuid4())

    def task_calls(tid: str) -> list[tuple[str, str, dict[str, Any] | None]]:
        return [
            ("GET", f"/api/v1/tasks/{tid}", None),
            ("PUT", f"/api/v1/tasks/{tid}", {"name": "mine now"}),
            ("DELETE", f"/api/v1/tasks/{tid}", None),
            ("POST", f"/api/v1/tasks/{tid}/executions", None),
            ("GET", f"/api/v1/tasks/{tid}/executions", None),
        ]

    def execution_calls(eid: str) -> list[tuple[str, str, dict[str, Any] | None]]:
        return [
            ("GET", f"/api/v1/executions/{eid}", None),
            ("DELETE", f"/api/v1/executions/{eid}", None),
        ]

    for calls, text in (
        (task_calls(task["id"]) + task_calls(missing_task), "Task not found"),
        (
            execution_calls(execution["id"]) + execution_calls(missing_execution),
            "Execution not found",
        ),
    ):
        for method, url, body in calls:
            resp = await client.request(method, url, json=body, headers=bob)
            assert (resp.status_code, resp.json()) == (404, {"error": text}), (method, url)

    listed = (await client.get("/api/v1/tasks", headers=bob)).json()
    assert (listed["tasks"], listed["total"]) == ([], 0)
    # Nothing bob tried changed alice's task or execution.
    mine = (await client.get(f"/api/v1/tasks/{task['id']}", headers=alice)).json()
    assert mine["name"] == "secret"
    assert mine["status"] == "running"
    got = await client.get(f"/api/v1/executions/{execution['id']}", headers=alice)
    assert got.json()["status"] == "pending"


async def test_bad_ids_and_missing_auth(client: httpx.AsyncClient, alice: Headers) -> None:
    for method, url, text in (
        ("GET", "/api/v1/tasks/not-a-uuid", "Invalid task ID format"),
        ("PUT", "/api/v1/tasks/123", "Invalid task ID format"),
        ("DELETE", "/api/v1/tasks/%00", "Invalid task ID format"),
        ("POST", "/api/v1/tasks/x/executions", "Invalid task ID format"),
        ("GET", "/api/v1/tasks/x/executions", "Invalid task ID format"),
        ("GET", "/api/v1/executions/nope", "Invalid execution ID format"),
        ("DELETE", "/api/v1/executions/nope", "Invalid execution ID format"),
    ):
        resp = await client.request(
            method, url, json={} if method == "PUT" else None, headers=alice
        )
        assert (resp.status_code, resp.json()) == (400, {"error": text}), (method, url)
    for method, url in (
        ("GET", "/api/v1/tasks"),
        ("POST", "/api/v1/tasks"),
        ("GET", f"/api/v1/executions/{uuid.uuid4()}"),
    ):
        resp = await client.request(method, url)
        assert (resp.status_code, resp.json()) == (401, {"error": "authorization header required"})
