"""Signed-up users and their resources, through the public API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "Sup3r-secret!"
API = "/api/v1"


@dataclass(frozen=True, slots=True)
class User:
    email: str
    id: str
    access_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def sign_up(client: httpx.AsyncClient, name: str) -> User:
    """Register a fresh user through the API."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    resp = await client.post(
        f"{API}/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return User(email, body["user"]["id"], body["access_token"], body["refresh_token"])


async def create_task(client: httpx.AsyncClient, user: User, **fields: Any) -> dict[str, Any]:
    """A python task of `user` (fields override the defaults)."""
    body = {"name": "probe", "script_type": "python", "script_content": "print(1)", **fields}
    resp = await client.post(f"{API}/tasks", json=body, headers=user.auth)
    assert resp.status_code == 201, resp.text
    task: dict[str, Any] = resp.json()
    return task
