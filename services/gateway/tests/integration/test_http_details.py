"""HTTP details of every response (issue 12, item 10): charset, Allow, WWW-Authenticate,
Cache-Control on tokens, Location on 201, and JSON CORS refusals."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

Headers = dict[str, str]
JSON_UTF8 = "application/json; charset=utf-8"
PASSWORD = "Sup3r-secret!"
TASK: dict[str, Any] = {"name": "ok", "script_content": "print(1)", "script_type": "python"}


async def test_every_json_response_names_utf8(client: httpx.AsyncClient, alice: Headers) -> None:
    task_id = uuid.uuid4()
    responses = [
        await client.get("/api/v1/ping"),
        await client.get("/openapi.json"),
        await client.get("/health"),
        await client.get("/api/v1/nope"),
        await client.delete("/api/v1/ping"),
        await client.get("/api/v1/tasks"),
        await client.get(f"/api/v1/tasks/{task_id}", headers=alice),
        await client.get("/api/v1/tasks/not-a-uuid", headers=alice),
        await client.post("/api/v1/tasks", json={}, headers=alice),
        await client.post(
            "/api/v1/auth/login", content=b"{", headers={"Content-Type": "application/json"}
        ),
        await client.post("/api/v1/auth/login", content=b"x" * 2_000_000),
    ]
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 200, 404, 405, 401, 404, 400, 400, 400, 413]
    assert [r.headers["content-type"] for r in responses] == [JSON_UTF8] * len(responses)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/api/v1/tasks/{id}", "DELETE, GET, PUT"),
        ("POST", "/api/v1/tasks/{id}", "DELETE, GET, PUT"),
        ("DELETE", "/api/v1/tasks", "GET, POST"),
        ("POST", "/api/v1/executions/{id}", "DELETE, GET, PUT"),
        ("PUT", "/api/v1/tasks/{id}/executions", "GET, POST"),
        ("GET", "/api/v1/auth/login", "POST"),
    ],
)
async def test_405_allow_lists_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    resp = await client.request(method, path.format(id=uuid.uuid4()))
    assert resp.status_code == 405
    assert resp.json() == {"error": "Method not allowed"}
    assert resp.headers["allow"] == allow


async def test_every_401_names_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    responses = [
        await client.get("/api/v1/auth/me"),
        await client.get("/api/v1/tasks", headers={"Authorization": "Bearer not.a.jwt"}),
        await client.get("/api/v1/tasks", headers={"Authorization": "Basic YTpi"}),
        await client.post(
            "/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
        ),
        await client.post("/api/v1/auth/refresh", json={"refresh_token": "forged"}),
    ]
    assert [r.status_code for r in responses] == [401] * len(responses)
    assert [r.headers["www-authenticate"] for r in responses] == ["Bearer"] * len(responses)
    ok = await client.get("/api/v1/ping")
    assert "www-authenticate" not in ok.headers


async def test_tokens_are_never_cached_and_register_says_where_the_user_is(
    client: httpx.AsyncClient,
) -> None:
    email = f"cache-{uuid.uuid4().hex[:8]}@example.com"
    register = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "C"}
    )
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    for resp in (register, login, refresh):
        assert resp.status_code in (200, 201), resp.text
        assert resp.headers["cache-control"] == "no-store"
    assert register.status_code == 201
    me = await client.get(
        register.headers["location"],
        headers={"Authorization": f"Bearer {register.json()['access_token']}"},
    )
    assert register.headers["location"] == "/api/v1/auth/me"
    assert me.json()["user"]["email"] == email


async def test_created_tasks_and_executions_say_where_they_are(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    created = await client.post("/api/v1/tasks", json=TASK, headers=alice)
    assert created.status_code == 201
    task_id = created.json()["id"]
    assert created.headers["location"] == f"/api/v1/tasks/{task_id}"
    assert (await client.get(created.headers["location"], headers=alice)).json()["id"] == task_id

    key = {"Idempotency-Key": uuid.uuid4().hex}
    started = await client.post(f"/api/v1/tasks/{task_id}/executions", headers={**alice, **key})
    assert started.status_code == 201
    execution_id = started.json()["id"]
    assert started.headers["location"] == f"/api/v1/executions/{execution_id}"
    found = await client.get(started.headers["location"], headers=alice)
    assert found.json()["id"] == execution_id
    replayed = await client.post(f"/api/v1/tasks/{task_id}/executions", headers={**alice, **key})
    assert replayed.status_code == 200
    assert replayed.headers["idempotent-replayed"] == "true"
    assert "location" not in replayed.headers  # nothing was created


@pytest.mark.parametrize(
    ("request_headers", "refused"),
    [
        ({"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, "origin"),
        ({"Origin": "http://localhost:3000", "Access-Control-Request-Method": "PATCH"}, "method"),
        (
            {
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "X-Evil",
            },
            "headers",
        ),
    ],
)
async def test_refused_cors_preflights_are_json(
    client: httpx.AsyncClient, request_headers: Headers, refused: str
) -> None:
    resp = await client.options("/api/v1/tasks", headers=request_headers)
    assert resp.status_code == 400
    assert resp.headers["content-type"] == JSON_UTF8
    assert resp.json() == {"error": "CORS preflight rejected", "details": f"{refused} not allowed"}
    assert "access-control-allow-origin" not in resp.headers or refused != "origin"
