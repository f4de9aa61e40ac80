"""Register → login → me → refresh → logout through the real gateway, auth service and Postgres."""

from __future__ import annotations

import httpx

PASSWORD = "Sup3r-secret!"


async def register(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, object]:
    resp = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert resp.status_code == 201, resp.text
    body: dict[str, object] = resp.json()
    return body


async def test_register_login_me_refresh_logout(client: httpx.AsyncClient) -> None:
    created = await register(client)
    assert created["token_type"] == "Bearer"
    assert created["expires_in"] == 900
    user = created["user"]
    assert isinstance(user, dict)
    assert user["email"] == "ada@example.com"
    assert "password" not in str(created).lower().replace("password_", "")

    login = await client.post(
        "/api/v1/auth/login", json={"email": "ADA@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()

    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["user"]["id"] == user["id"]
    assert me.json()["user"]["created_at"].endswith("Z")

    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]

    out = await client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": new["refresh_token"]},
        headers={"Authorization": f"Bearer {new['access_token']}"},
    )
    assert out.status_code == 200
    assert out.json() == {"message": "logged out successfully"}
