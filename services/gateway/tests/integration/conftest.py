"""Fixtures for the task and execution API tests: registered users and a task factory."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

PASSWORD = "Sup3r-secret!"
Headers = dict[str, str]
MakeTask = Callable[..., Awaitable[dict[str, Any]]]


async def sign_up(client: httpx.AsyncClient, name: str) -> Headers:
    """Register a fresh user; their bearer header."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    resp = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert resp.status_code == 201, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Headers:
    """A signed-in user."""
    return await sign_up(client, "alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Headers:
    """Another signed-in user."""
    return await sign_up(client, "bob")


@pytest.fixture
async def admin(client: httpx.AsyncClient, database_url: str) -> Headers:
    """A user made admin in the database, signed in again so the token carries the role."""
    email = f"root-{uuid.uuid4().hex[:8]}@example.com"
    resp = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "root"}
    )
    assert resp.status_code == 201, resp.text
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE users SET role = 'admin' WHERE email = $1", email)
    finally:
        await conn.close()
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture
def make_task(client: httpx.AsyncClient) -> MakeTask:
    """Create a task through the API: `await make_task(headers, name=..., ...)`."""

    async def make(headers: Headers, **fields: Any) -> dict[str, Any]:
        body = {"name": "job", "script_content": "print(1)", "script_type": "python", **fields}
        resp = await client.post("/api/v1/tasks", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        task: dict[str, Any] = resp.json()
        return task

    return make
